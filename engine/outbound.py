"""An outbound call from top to bottom: select records → build payloads → build
requests → send with retries → log every attempt → report a result dict (SPEC §3)."""
import base64
import json
import logging
import re
from urllib.parse import quote, urlencode

from requests.structures import CaseInsensitiveDict

from . import transport
from odoo.exceptions import UserError

from .logbook import SENSITIVE_HEADER, LogBook, Redactor, headers_text, truncate
from .payload import Mapping, MappingError, to_json_text
from .sandbox import CompiledScript, ScriptError, eval_domain, script_context

_logger = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r'\{(\w+)\}')
DEFAULT_RETRY = transport.RetryPolicy()


def placeholders(url):
    return PLACEHOLDER.findall(url or '')


class RequestError(Exception):
    """This request cannot be built (missing placeholder value, failing payload script)."""


class Call:
    """One call of the entry point on one config; ``run()`` returns the result dict."""

    def __init__(self, config, records, timeout=None):
        self.config = config
        self.records = records
        self.method = config.http_method_ids.name
        self.timeout = _timeouts(config, timeout)
        self.policy = _retry_policy(config)
        self.book = LogBook(config.env)
        self.redactor = Redactor(_secrets(config))
        self.result = {
            'success': True, 'status_code': None, 'response': None,
            'log_ids': [], 'errors': [], 'requests': [], 'skipped_ids': [],
        }

    def run(self):
        config = self.config
        if not config.active:
            self._skip(self.records, f'BJ API config "{config.name}" is archived: nothing sent.')
            return self.result
        existing = self.records.exists()
        if self.records - existing:
            self._skip(self.records - existing, f"{len(self.records - existing)} record(s) no longer exist.")
        selected = self._in_domain(existing)
        if existing - selected:
            self._skip(existing - selected, f"{len(existing - selected)} record(s) outside the filter domain.")
        if not selected:
            return self.result
        try:
            mapping = Mapping(config)
        except MappingError as error:
            self._fail(selected, str(error))
            raise UserError(str(error)) from None
        script = CompiledScript(config.python_script, f'BJ API config "{config.name}", payload script') \
            if (config.python_script or '').strip() else None
        for page in self._pages(selected):
            self._send_page(page, mapping, script)
        return self.result

    def _in_domain(self, records):
        domain = eval_domain(records.env, self.config.domain, f'BJ API config "{self.config.name}"')
        if not domain:
            return records
        found = set(records.with_context(active_test=False).search([('id', 'in', records.ids)] + domain).ids)
        return records.filtered(lambda record: record.id in found)

    def _pages(self, records):
        size = self.config.page_size if self.config.is_paginated else 1
        for start in range(0, len(records), size):
            yield records[start:start + size]

    def _send_page(self, page, mapping, script):
        payloads, built = [], page.browse()
        for record in page:
            try:
                payloads.append(mapping.build(record))
                built |= record
            except ScriptError as error:
                self._fail(record, str(error))
        if not built:
            return
        try:
            body = payloads if self.config.is_paginated else payloads[0]
            if script:
                body = _run_payload_script(script, built, body)
            request = self._http_request(body, url_values=payloads[0])
        except (ScriptError, RequestError) as error:
            self._fail(built, str(error))
            return
        last = transport.send(request, self.timeout, self.policy,
                              on_attempt=lambda attempt, will_retry: self._log_attempt(request, built, attempt, will_retry))
        self._report(built, last)

    def _http_request(self, body, url_values):
        config = self.config
        headers = CaseInsensitiveDict({'Content-Type': 'application/json'})
        for header in config.header_ids:
            headers[header.key] = header.value or ''
        if config.auth_type == 'basic':
            credentials = f"{config.auth_login or ''}:{config.auth_password or ''}".encode()
            headers['Authorization'] = f"Basic {base64.b64encode(credentials).decode()}"
        elif config.auth_type == 'bearer':
            headers['Authorization'] = f"Bearer {config.bearer_token or ''}"
        query = [(param.key, param.operator or '=', param.value or '') for param in config.param_ids]
        data = None
        if self.method == 'GET':
            query += [(key, '=', value) for key, value in _query_items(body)]
        else:
            data = to_json_text(body).encode()
        url = _fill_placeholders(config.url, url_values)
        if query:
            url += ('&' if '?' in url else '?') + _query_string(query)
        return transport.HttpRequest(self.method, url, dict(headers), data)

    def _log_attempt(self, request, records, attempt, will_retry):
        status = 'success' if attempt.ok else ('retry' if will_retry else 'error')
        redact = self.redactor
        masked_url = redact.url(request.url)
        error = None if attempt.ok else redact.text(attempt.error or _http_error(attempt))
        log = self._write_log(records, {
            'status': status,
            'url': masked_url,
            'request_headers': headers_text(redact.headers(request.headers)),
            'request_body': truncate(redact.text(request.body.decode() if request.body else '')),
            'response_status_code': attempt.status_code,
            'response_headers': headers_text(redact.headers(attempt.response_headers)),
            'response_body': truncate(redact.text(attempt.response_text)),
            'error_message': error,
            'duration_ms': attempt.duration_ms,
            'attempt': attempt.number,
        })
        _logger.info("BJ API %s %s -> %s in %d ms (attempt %d, %s)", request.method, masked_url,
                     attempt.status_code or attempt.error, attempt.duration_ms, attempt.number, status)
        attempt.log_id = log.id

    def _report(self, records, attempt):
        error = None if attempt.ok else self.redactor.text(attempt.error or _http_error(attempt))
        response = _parsed(attempt.response_text)
        self.result['requests'].append({
            'record_ids': records.ids, 'success': attempt.ok, 'status_code': attempt.status_code,
            'response': response, 'attempts': attempt.number, 'error': error, 'log_id': attempt.log_id,
        })
        self.result.update(status_code=attempt.status_code, response=response)
        if error:
            self.result['success'] = False
            self.result['errors'].append(error)

    def _fail(self, records, message):
        log = self._write_log(records, {'status': 'error', 'error_message': self.redactor.text(message), 'attempt': 0})
        self.result['success'] = False
        self.result['errors'].append(message)
        self.result['requests'].append({
            'record_ids': records.ids, 'success': False, 'status_code': None,
            'response': None, 'attempts': 0, 'error': message, 'log_id': log.id,
        })

    def _skip(self, records, reason):
        self._write_log(records, {'status': 'skipped', 'error_message': reason, 'attempt': 0})
        self.result['skipped_ids'].extend(records.ids)

    def _write_log(self, records, values):
        ids = records.ids
        shown = ', '.join(map(str, ids[:5])) + (', …' if len(ids) > 5 else '')
        log = self.book.write({
            'config_id': self.config.id,
            'name': f"{self.method} {records._name} [{shown}]" + (f" ({len(ids)} records)" if len(ids) > 1 else ''),
            'http_method': self.method,
            'url': self.redactor.url(self.config.url),
            'res_model': records._name,
            'res_ids': ','.join(map(str, ids)),
            **values,
        })
        self.result['log_ids'].append(log.id)
        return log


def _run_payload_script(script, records, body):
    context = script_context(records.env, records, body)
    value = script.run(context)
    return body if value is None else value


def _timeouts(config, timeout):
    """SPEC §3: a number overrides the read timeout, a pair overrides both."""
    if timeout is None:
        return (config.connection_timeout, config.read_timeout)
    if isinstance(timeout, (tuple, list)):
        connect, read = timeout
        return (float(connect), float(read))
    return (config.connection_timeout, float(timeout))


def _retry_policy(config):
    get = config.env['ir.config_parameter'].sudo().get_param
    return transport.RetryPolicy(
        max_retries=config.max_retries,
        backoff_base=float(get('bj_api_sync.backoff_base_seconds', DEFAULT_RETRY.backoff_base)),
        backoff_max=float(get('bj_api_sync.backoff_max_seconds', DEFAULT_RETRY.backoff_max)),
        retry_after_max=float(get('bj_api_sync.retry_after_max_seconds', DEFAULT_RETRY.retry_after_max)),
    )


def _secrets(config):
    secrets = [config.auth_password, config.bearer_token]
    if config.auth_type == 'basic':
        credentials = f"{config.auth_login or ''}:{config.auth_password or ''}".encode()
        secrets.append(base64.b64encode(credentials).decode())
    secrets += [header.value for header in config.header_ids if SENSITIVE_HEADER.search(header.key or '')]
    return [secret for secret in secrets if secret]


def _fill_placeholders(url, values):
    def value_of(match):
        key = match.group(1)
        if not isinstance(values, dict) or values.get(key) in (None, ''):
            raise RequestError(f"the URL placeholder {{{key}}} has no value in the payload")
        return quote(str(values[key]), safe='')
    return PLACEHOLDER.sub(value_of, url)


def _query_items(body):
    """GET sends no body: top-level payload keys become query parameters."""
    if not isinstance(body, dict):
        raise RequestError("a GET request needs an object payload to build its query string")
    for key, value in body.items():
        if value is None:
            continue
        if isinstance(value, bool):
            yield key, 'true' if value else 'false'
        elif isinstance(value, list) and all(not isinstance(item, (dict, list)) for item in value):
            for item in value:
                yield key, item
        elif isinstance(value, (dict, list)):
            yield key, to_json_text(value)
        else:
            yield key, value


def _query_string(items):
    """``key<operator>value`` items; the operator is sent as given (SPEC §2, params)."""
    return '&'.join(
        urlencode([(key, value)]) if operator == '=' else f"{quote(str(key))}{operator}{quote(str(value))}"
        for key, operator, value in items
    )


def _http_error(attempt):
    return f"HTTP {attempt.status_code}: {(attempt.response_text or '').strip()[:500]}"


def _parsed(text):
    if not text:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
