"""An outbound call from top to bottom: select records → build payloads → build
requests → send with retries → log every attempt → report a result dict (SPEC §3)."""
import base64
import dataclasses
import itertools
import json
import logging
import re
import uuid
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from requests.structures import CaseInsensitiveDict
from requests.utils import get_auth_from_url

from odoo.exceptions import UserError
from odoo.models import PREFETCH_MAX

from . import signing, transport
from .logbook import SENSITIVE_HEADER, LogBook, Redactor, headers_text, truncate
from .payload import Mapping, MappingError, script_result, to_json_text
from .sandbox import CompiledScript, ScriptError, eval_domain, script_context

_logger = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r'\{(\w+)\}')
DEFAULT_RETRY = transport.RetryPolicy()


def placeholders(url):
    return PLACEHOLDER.findall(url or '')


class RequestError(Exception):
    """This request cannot be built (a URL placeholder without value, a GET payload that is no object)."""


@dataclasses.dataclass
class Planned:
    """What preparing decided for some records: a request (URL and body) to send, an error, or a skip.

    No header is planned: headers carry secrets and are added when sending.
    """
    record_ids: list
    url: str = None
    body: bytes = None
    error: str = None
    skipped: str = None


class Call:
    """One call of the entry point on one config: ``prepare()`` reads the database
    (domain, mapping, scripts) and plans the requests; ``run()`` also delivers them."""

    def __init__(self, config, records, timeout=None, in_domain=False):
        self.config = config
        self.records = records
        self.timeout = timeout
        # True when the caller found the records with the config's domain: no second search.
        self.in_domain = in_domain
        self.label = f'BJ API config "{config.name}"'
        self.method = config.http_method_ids.name
        self.paginated = config.is_paginated
        self.page_size = config.page_size if config.is_paginated else 1

    def delivery(self, env=None):
        """The Delivery of this call, logging in ``env`` (another transaction) when given."""
        config = self.config.with_env(env) if env else self.config
        return Delivery(config, self.records._name, timeout=self.timeout)

    def run(self):
        """Prepare and deliver now; the result dict of SPEC §3."""
        return self.delivery().deliver(self.plan())

    def plan(self):
        """``prepare()`` for a direct call: a broken mapping is a configuration error,
        logged and raised as UserError."""
        try:
            return self.prepare()
        except MappingError as error:
            self.delivery().log_error(self.records.ids, str(error))
            raise UserError(str(error)) from None

    def snapshot(self):
        """Payloads of the records in the domain as they are now: {id: payload}.

        Kept for records that may be deleted before delivery; a record whose
        payload cannot be built now is left out (its error shows when it is prepared).
        """
        if not self.config.active:
            return {}
        mapping = Mapping(self.config)
        payloads = {}
        for record in self._in_domain(self.records.exists()):
            try:
                payloads[record.id] = mapping.build(record)
            except ScriptError:
                continue
        return payloads

    def prepare(self, snapshots=None):
        """Plan the requests: an iterator of Planned, built page by page as it is consumed,
        so memory stays flat however many records are sent. Records gone from the
        database are sent from ``snapshots``. What can fail for the whole call (the
        mapping) is checked before the first item."""
        if not self.config.active:
            return iter([Planned(self.records.ids, skipped=f"{self.label} is archived: nothing sent.")])
        snapshots = snapshots or {}
        skipped = []
        existing = _existing(self.records)
        gone = (self.records - existing).ids
        from_snapshots = [record_id for record_id in gone if record_id in snapshots]
        lost = [record_id for record_id in gone if record_id not in snapshots]
        if lost:
            skipped.append(Planned(lost, skipped=f"{len(lost)} record(s) no longer exist."))
        selected = self._in_domain(existing)
        outside = (existing - selected).ids
        if outside:
            skipped.append(Planned(outside, skipped=f"{len(outside)} record(s) outside the filter domain."))
        if not selected and not from_snapshots:
            return iter(skipped)
        mapping = Mapping(self.config)
        script = CompiledScript(self.config.python_script, f"{self.label}, payload script") \
            if (self.config.python_script or '').strip() else None
        return itertools.chain(
            skipped,
            self._plan_records(selected, mapping, script),
            *(self._plan_page([(record_id, snapshots[record_id]) for record_id in chunk], script)
              for chunk in _chunks(from_snapshots, self.page_size)),
        )

    def _plan_records(self, records, mapping, script):
        # Records are read a batch at a time (whole pages, about PREFETCH_MAX records) and
        # dropped from the cache once planned.
        batch_size = self.page_size * max(1, PREFETCH_MAX // self.page_size)
        for batch in _chunks(records, batch_size):
            batch = batch.with_prefetch()
            for page in _chunks(batch, self.page_size):
                # A slice prefetches only itself: read the whole batch at the first access instead.
                page = page.with_prefetch(batch._prefetch_ids)
                entries = []
                for record in page:
                    try:
                        entries.append((record.id, mapping.build(record)))
                    except ScriptError as error:
                        yield Planned([record.id], error=str(error))
                yield from self._plan_page(entries, script)
            batch.invalidate_recordset()

    def _in_domain(self, records):
        if self.in_domain:
            return records
        domain = eval_domain(records.env, self.config.domain, self.label)
        if not domain or not records:
            return records
        found = set(records.with_context(active_test=False).search([('id', 'in', records.ids)] + domain).ids)
        return records.filtered(lambda record: record.id in found)

    def _plan_page(self, entries, script):
        if not entries:
            return []
        record_ids = [record_id for record_id, _payload in entries]
        payloads = [payload for _record_id, payload in entries]
        try:
            body = payloads if self.paginated else payloads[0]
            if script:
                body = _run_payload_script(script, self.records.browse(record_ids), body)
            url, data = self._url_and_body(body, url_values=payloads[0])
            return [Planned(record_ids, url=url, body=data)]
        except (ScriptError, RequestError) as error:
            return [Planned(record_ids, error=str(error))]

    def _url_and_body(self, body, url_values):
        query = [(param.key, param.operator or '=', param.value or '') for param in self.config.param_ids]
        data = None
        if self.method == 'GET':
            query += [(key, '=', value) for key, value in _query_items(body)]
        else:
            data = to_json_text(body).encode()
        url = _fill_placeholders(self.config.url, url_values)
        if query:
            url += ('&' if '?' in url else '?') + _query_string(query)
        return url, data


class Delivery:
    """Sends one config's requests and logs every attempt.

    Everything needed from the config is read here, so a delivery can happen
    later and in another transaction (after commit, from the outbox).
    """

    def __init__(self, config, model, timeout=None, policy=None):
        self.config_id = config.id
        self.label = f'BJ API config "{config.name}"'
        self.method = config.http_method_ids.name
        self.url_template = config.url
        self.url_userinfo = urlsplit(config.url or '').netloc.rpartition('@')[0]
        self.model = model
        self.headers = _headers(config)
        self.signing_secret = config.signing_secret if config.sign_requests else None
        self.timeout = _timeouts(config, timeout)
        self.policy = policy or _retry_policy(config)
        self.redactor = Redactor(_secrets(config))
        self.book = LogBook(config.env)
        self.log_ids = []

    def deliver(self, planned):
        """Send what was planned now, with retries; the result dict of SPEC §3."""
        result = {
            'success': True, 'status_code': None, 'response': None,
            'log_ids': self.log_ids, 'errors': [], 'requests': [], 'skipped_ids': [],
        }
        for item in planned:
            if item.skipped:
                self.log_skip(item.record_ids, item.skipped)
                result['skipped_ids'].extend(item.record_ids)
                continue
            if item.error:
                log = self.log_error(item.record_ids, item.error)
                outcome = {'success': False, 'status_code': None, 'response': None, 'attempts': 0,
                           'error': log.error_message, 'log_id': log.id}
            else:
                last = self.send(item.record_ids, item.url, item.body, key=str(uuid.uuid4()))
                response = _parsed(last.response_text)
                outcome = {'success': last.ok, 'status_code': last.status_code, 'response': response,
                           'attempts': last.number, 'error': self.error_of(last), 'log_id': last.log_id}
                result.update(status_code=last.status_code, response=response)
            result['requests'].append({'record_ids': item.record_ids, **outcome})
            if outcome['error']:
                result['success'] = False
                result['errors'].append(outcome['error'])
        return result

    def send(self, record_ids, url, body, key, job_id=None, attempt_offset=0):
        """One request (with the policy's retries), each attempt logged; returns the last Attempt.

        ``attempt_offset``: attempts already made earlier (by previous dispatches of a queued job),
        so the logged attempt numbers go on from there."""
        request = transport.HttpRequest(self.method, self._with_credentials(url), self.request_headers(key, body), body)
        return transport.send(
            request, self.timeout, self.policy,
            on_attempt=lambda attempt, will_retry: self._log_attempt(
                record_ids, request, attempt, will_retry, job_id, attempt_offset))

    def _with_credentials(self, url):
        """Credentials written in the config's URL, restored on a URL stored without them (a job's)."""
        if not self.url_userinfo or '@' in urlsplit(url).netloc:
            return url
        parts = urlsplit(url)
        return urlunsplit(parts._replace(netloc=f"{self.url_userinfo}@{parts.netloc}"))

    def request_headers(self, key, body):
        """The headers of one request, secrets in clear: show them through ``redactor.headers()``."""
        headers = {**self.headers, 'Idempotency-Key': key}
        if self.signing_secret:
            headers.update(signing.headers(self.signing_secret, key, body or b''))
        return headers

    def error_of(self, attempt):
        return None if attempt.ok else self.redactor.text(_attempt_error(attempt))

    def log_skip(self, record_ids, reason):
        return self._write_log(record_ids, {'status': 'skipped', 'error_message': reason, 'attempt': 0})

    def log_error(self, record_ids, message, job_id=None):
        return self._write_log(record_ids, {
            'status': 'error', 'error_message': self.redactor.text(message), 'attempt': 0, 'job_id': job_id})

    def _log_attempt(self, record_ids, request, attempt, will_retry, job_id, attempt_offset=0):
        status = 'success' if attempt.ok else ('retry' if will_retry else 'error')
        redact = self.redactor
        masked_url = redact.url(request.url)
        log = self._write_log(record_ids, {
            'job_id': job_id,
            'status': status,
            'url': masked_url,
            'request_headers': headers_text(redact.headers(request.headers)),
            'request_body': truncate(redact.text(request.body.decode() if request.body else '')),
            'response_status_code': attempt.status_code,
            'response_headers': headers_text(redact.headers(attempt.response_headers)),
            'response_body': truncate(redact.text(attempt.response_text)),
            'error_message': self.error_of(attempt),
            'duration_ms': attempt.duration_ms,
            'attempt': attempt.number + attempt_offset,
        })
        _logger.info("BJ API %s %s -> %s in %d ms (attempt %d, %s)", request.method, masked_url,
                     attempt.status_code or redact.text(attempt.error), attempt.duration_ms,
                     attempt.number + attempt_offset, status)
        attempt.log_id = log.id

    def title(self, record_ids):
        """'POST res.partner [7]', 'POST res.partner [7, 8, …] (100 records)': names logs and jobs."""
        shown = ', '.join(map(str, record_ids[:5])) + (', …' if len(record_ids) > 5 else '')
        count = f" ({len(record_ids)} records)" if len(record_ids) > 1 else ''
        return f"{self.method} {self.model} [{shown}]{count}"

    def _write_log(self, record_ids, values):
        log = self.book.write({
            'config_id': self.config_id,
            'name': self.title(record_ids),
            'http_method': self.method,
            'url': self.redactor.url(self.url_template),
            'res_model': self.model,
            'res_ids': ','.join(map(str, record_ids)),
            **values,
        })
        self.log_ids.append(log.id)
        return log


def _chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _existing(records):
    """``records.exists()`` a batch at a time: checked in one query, 100,000 ids took as much
    memory again as the ids themselves (the records keep their order)."""
    return records.browse(itertools.chain.from_iterable(
        batch.exists()._ids for batch in _chunks(records, PREFETCH_MAX)))


def _run_payload_script(script, records, body):
    context = script_context(records.env, records, body)
    value = script.run(context)
    return body if value is None else script_result(value, script.where)


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


def _headers(config):
    """Request headers: JSON by default, the config's own, then authentication (SPEC §4)."""
    headers = CaseInsensitiveDict({'Content-Type': 'application/json'})
    for header in config.header_ids:
        headers[header.key] = header.value or ''
    if config.auth_type == 'basic':
        headers['Authorization'] = f"Basic {_basic_credentials(config)}"
    elif config.auth_type == 'bearer':
        headers['Authorization'] = f"Bearer {config.bearer_token or ''}"
    return dict(headers)


def _basic_credentials(config):
    return base64.b64encode(f"{config.auth_login or ''}:{config.auth_password or ''}".encode()).decode()


def _secrets(config):
    secrets = [config.auth_password, config.bearer_token, config.signing_secret]
    if config.auth_type == 'basic':
        secrets.append(_basic_credentials(config))
    secrets += [header.value for header in config.header_ids if SENSITIVE_HEADER.search(header.key or '')]
    secrets += _url_credentials(config.url)
    return [secret for secret in secrets if secret]


def _url_credentials(url):
    """The password of ``http://user:password@host/`` (as written and decoded) and the
    Basic credentials requests derives from it: an API may echo them back."""
    userinfo = urlsplit(url or '').netloc.rpartition('@')[0]
    if ':' not in userinfo:
        return []
    login, password = get_auth_from_url(url)
    return [userinfo.partition(':')[2], password,
            base64.b64encode(f"{login}:{password}".encode('latin1', 'replace')).decode()]


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


def _attempt_error(attempt):
    return attempt.error or f"HTTP {attempt.status_code}: {(attempt.response_text or '').strip()[:500]}"


def _parsed(text):
    if not text:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
