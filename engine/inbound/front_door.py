"""Inbound endpoints: external systems read, create, update and delete Odoo records through a config.

``serve()`` is the one front door (the controller only translates HTTP). For one request it:

1. finds the active inbound config of the endpoint (404 otherwise), read once into an ``Endpoint``
   that the config caches until it changes;
2. admits the request, in this order: rate limit (429), body size (413), credentials (401), Standard
   Webhooks signature (401), method (405), content type (415), JSON (400);
3. does the work as the config's inbound user (access rights and record rules apply) in a savepoint:
   any refusal or error rolls back everything the request wrote;
4. answers JSON (errors as ``{"error", "status_code", "line_id"}``), never a traceback;
5. writes one ``bj.api.log`` row (direction ``in``), secrets masked.

The request is one transaction (Odoo's, committed after the answer): on success the records and the
log row are committed together; on a refusal only the log row. A concurrency failure is left to Odoo,
which runs the request again on a fresh snapshot, except on its last try, answered 503.
"""
import dataclasses
import hashlib
import json
import logging
import time

import psycopg2
from psycopg2 import errorcodes

from odoo import SUPERUSER_ID, fields
from odoo.exceptions import AccessDenied, AccessError, MissingError, UserError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

from ... import compat
from ..outbox import health
from ..shared import auth, signing
from ..shared.logbook import LogBook, Redactor, headers_text, row, truncate
from ..shared.payload import MappingError, to_json_text
from ..shared.sandbox import ScriptError, eval_domain
from .reverse import InputError

_logger = logging.getLogger(__name__)

API_PREFIX = '/bj_api_sync/v1'
MAX_LIMIT = 1000
DEFAULT_MAX_BYTES = 1024 * 1024
IDEMPOTENCY_HOURS = 24
COLLECTION_METHODS = ('GET', 'POST')
ITEM_METHODS = ('GET', 'PUT', 'PATCH', 'DELETE')
BODY_METHODS = ('POST', 'PUT', 'PATCH')
JSON_TYPES = ('application/json',)


@dataclasses.dataclass(frozen=True)
class Incoming:
    """What the controller read of an HTTP request."""
    method: str
    path: str
    query_string: str
    args: object          # the query parameters: a multi-dict (``get``, ``items(multi=True)``)
    headers: object       # case-insensitive mapping
    mimetype: str
    client: str
    read: object          # read(size) -> the body, or None when it is over ``size`` bytes


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """An inbound config read once: all that serving a request needs of it, secrets included (kept in
    memory only). ``bj.api.sync.config._inbound_endpoint`` caches it until a configuration changes."""
    config_id: int
    name: str
    label: str
    model_name: str
    user_id: int
    domain: str
    methods: frozenset
    auth: object
    sign_requests: bool
    signing_secrets: tuple   # (secret, valid until or None)
    rate_limit: float
    page_size: int

    @classmethod
    def read(cls, config):  # pylint: disable=method-required-super  # not an Odoo model
        signing_secrets = [(config.signing_secret, None)] if config.signing_secret else []
        if config.signing_secret_previous and config.signing_secret_previous_until:
            signing_secrets.append((config.signing_secret_previous, config.signing_secret_previous_until))
        return cls(
            config_id=config.id,
            name=config.endpoint,
            label=config._label(),
            model_name=config.model_name,
            user_id=config.inbound_user_id.id,
            domain=config.domain,
            methods=frozenset(config.http_method_ids.mapped('name')),
            auth=auth.from_config(config),
            sign_requests=config.sign_requests,
            signing_secrets=tuple(signing_secrets),
            rate_limit=config.rate_limit,
            page_size=config.page_size,
        )

    def verifying_secrets(self, now):
        """The signing secrets a request may be signed with now: the previous one only until its date."""
        return [secret for secret, until in self.signing_secrets if until is None or until > now]


@dataclasses.dataclass
class Answer:
    status: int
    body: object = None
    headers: dict = dataclasses.field(default_factory=dict)
    res_ids: list = dataclasses.field(default_factory=list)


class Refusal(Exception):
    """The request is answered with an error; everything it wrote is rolled back."""

    def __init__(self, status, message, line_id=None, headers=None):
        super().__init__(message)
        self.answer = Answer(status, {'error': str(message), 'status_code': status, 'line_id': line_id},
                             headers or {})


def serve(env, endpoint, ident, incoming, last_try=True):
    """Answer one request to ``/bj_api_sync/v1/<endpoint>[/<ident>]``; never raises, but for a
    concurrency failure Odoo retries (unless ``last_try``)."""
    started = time.monotonic()
    env = env(user=SUPERUSER_ID)
    served = env['bj.api.sync.config']._inbound_endpoint(endpoint) if endpoint else None
    if served:
        # Answers speak the inbound user's language (their context is cached by Odoo).
        env = env(context={**env.context, **env(user=served.user_id)['res.users'].context_get()})
    call = _Call(env, served, ident, incoming)
    answer = call.answer(last_try)
    call.log(answer, started)
    return answer


class _Call:
    def __init__(self, env, endpoint, ident, incoming):
        self.env = env
        self.endpoint = endpoint
        self.ident = ident
        self.incoming = incoming
        self.body = b''
        self.auth = endpoint.auth if endpoint else auth.Auth()

    def answer(self, last_try):
        try:
            if not self.endpoint:
                raise Refusal(404, self.env._("Unknown endpoint."))
            data = self._admit()
            with self.env.cr.savepoint():
                answer = _Work(self, data).run()
                self.env.flush_all()
            return answer
        except Refusal as refusal:
            return refusal.answer
        except Exception as error:  # noqa: BLE001 - every error becomes an answer; none leaves as a traceback
            return self._error_answer(error, last_try)

    def _error_answer(self, error, last_try):
        if isinstance(error, InputError):
            return Refusal(error.status, error.message, error.line_id).answer
        if isinstance(error, (AccessError, AccessDenied)):
            return Refusal(403, self.env._(
                "The endpoint's user may not do this: %(reason)s", reason=error.args[0])).answer
        if isinstance(error, MissingError):
            return Refusal(404, self.env._("Record not found.")).answer
        if isinstance(error, UserError):
            return Refusal(400, error.args[0]).answer
        if isinstance(error, PG_CONCURRENCY_EXCEPTIONS_TO_RETRY):
            if not last_try:
                raise error
            return Refusal(503, self.env._("The records are being changed by another request; try again."),
                           headers={'Retry-After': '1'}).answer
        if isinstance(error, psycopg2.IntegrityError):
            return Refusal(400, compat.integrity_message(self.env, error)).answer
        if isinstance(error, (MappingError, ScriptError)):
            return Refusal(500, self.env._("The endpoint's configuration is broken: %(error)s", error=error)).answer
        _logger.exception("BJ API inbound endpoint %s: %s %s failed", self.endpoint.name,
                          self.incoming.method, self.incoming.path)
        if isinstance(error, psycopg2.Error):
            reason = errorcodes.lookup(error.pgcode) if error.pgcode else type(error).__name__
        else:
            reason = type(error).__name__
        return Refusal(500, self.env._(
            "Internal error (%(reason)s); the server log has the details.", reason=reason)).answer

    def _admit(self):
        """The request's JSON body (None without one), once everything but the work itself allows it."""
        endpoint, incoming = self.endpoint, self.incoming
        if endpoint.rate_limit > 0:
            with self.env.registry.cursor() as cr:
                compat.read_committed(cr)  # a slot another request took is read, not a conflict
                wait = health.admit_inbound(cr, endpoint.config_id, endpoint.rate_limit)
            if wait:
                raise Refusal(429, self.env._("Too many requests: this endpoint takes %(rate)s per second.",
                                              rate=endpoint.rate_limit), headers={'Retry-After': str(wait)})
        limit = max_bytes(self.env)
        body = incoming.read(limit)
        if body is None:
            raise Refusal(413, self.env._("The body is over %(limit)s bytes.", limit=limit))
        self.body = body
        realm = f"{API_PREFIX}/{endpoint.name}"
        if not self.auth.verify(incoming.headers, incoming.args):
            raise Refusal(401, self.env._("Authentication required: the credentials are missing or wrong."),
                          headers={'WWW-Authenticate': self.auth.challenge(realm)})
        if endpoint.sign_requests:
            try:
                signing.verify(endpoint.verifying_secrets(fields.Datetime.now()), incoming.headers, self.body)
            except signing.SignatureError as error:
                raise Refusal(401, self.env._("Signature refused: %(reason)s.", reason=self.env._(error.args[0])),
                              headers={'WWW-Authenticate': f'Webhook-Signature realm="{realm}"'}) from None
        allowed = allowed_methods(endpoint.methods, item=self.ident is not None)
        if incoming.method not in allowed:
            raise Refusal(405, self.env._("Method %(method)s is not allowed here; allowed: %(allowed)s.",
                                          method=incoming.method, allowed=', '.join(allowed) or '-'),
                          headers={'Allow': ', '.join(allowed)})
        if incoming.method not in BODY_METHODS:
            return None
        if incoming.mimetype not in JSON_TYPES and not incoming.mimetype.endswith('+json'):
            raise Refusal(415, self.env._("The body must be JSON (Content-Type: application/json), not %(type)s.",
                                          type=incoming.mimetype or '-'))
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise Refusal(400, self.env._("The body is not valid JSON: %(error)s", error=error)) from None

    def log(self, answer, started):
        """The request's one log row, with every secret masked."""
        incoming, endpoint = self.incoming, self.endpoint
        secrets = self.auth.secrets() + [secret for secret, _until in endpoint.signing_secrets] if endpoint else []
        redactor = Redactor(secrets)
        url = incoming.path + (f"?{incoming.query_string}" if incoming.query_string else '')
        response = to_json_text(answer.body) if answer.body is not None else ''
        error = answer.body.get('error') if answer.status >= 400 and isinstance(answer.body, dict) else None
        LogBook(self.env).write(row(
            f"{incoming.method} {incoming.path}"[:200], 'success' if answer.status < 400 else 'error',
            answer.res_ids, direction='in', config_id=endpoint.config_id if endpoint else False,
            http_method=incoming.method, url=redactor.url(url), client_address=incoming.client,
            request_headers=headers_text(redactor.headers(dict(incoming.headers.items()))),
            request_body=truncate(redactor.text(self.body.decode('utf-8', 'replace'))),
            response_status_code=answer.status,
            response_headers=headers_text(answer.headers) if answer.headers else False,
            response_body=truncate(response), error_message=error,
            duration_ms=round((time.monotonic() - started) * 1000), attempt=1,
            res_model=endpoint.model_name if endpoint else False))


class _Work:
    """What an admitted request does, as the inbound user."""

    def __init__(self, call, data):
        endpoint = call.endpoint
        config = call.env['bj.api.sync.config'].browse(endpoint.config_id)
        self.call = call
        self.endpoint = endpoint
        self.data = data
        self.env = call.env(user=endpoint.user_id)
        self.model = self.env[endpoint.model_name]
        self.mapping = config._compiled_mapping()
        self.reverse = config._compiled_reverse_mapping()
        self.domain = eval_domain(self.env, endpoint.domain, endpoint.label)

    def run(self):
        method, ident = self.call.incoming.method, self.call.ident
        if ident is None:
            return self._list() if method == 'GET' else self._create()
        record = self._find(ident)
        if method == 'GET':
            return Answer(200, self.mapping.build(record), res_ids=record.ids)
        if method == 'DELETE':
            record.unlink()
            return Answer(204, res_ids=[int(record.id)])
        record.write(self.reverse.values(self.model, self.data, record))
        self._check_in_domain(record)
        return Answer(200, self.mapping.build(record), res_ids=record.ids)

    def _find(self, ident):
        domain = self.reverse.identify(self.model, ident)
        found = self.model.search_fetch(domain + self.domain, self.mapping.stored_fields(), limit=2) \
            if domain is not None else self.model
        if not found:
            raise Refusal(404, self.env._("Record not found."))
        if len(found) > 1:
            raise Refusal(409, self.env._("Several records have the identifier %(ident)s.", ident=ident),
                          self.reverse.identifier.line_id)
        return found

    def _list(self):
        _ = self.env._
        args = self.call.incoming.args
        limit = _count_parameter(self.env, args, 'limit', self.endpoint.page_size, 1, MAX_LIMIT)
        offset = _count_parameter(self.env, args, 'offset', 0, 0, None)
        # Credentials sent in the query string (an API key) are no filter.
        credentials = self.endpoint.auth.query_parameters()
        pairs = [(name, value) for name, value in args.items(multi=True) if name not in credentials]
        domain = self.reverse.domain(self.model, pairs) + self.domain
        records = self.model.search_fetch(domain, self.mapping.stored_fields(), limit=limit, offset=offset,
                                          order='id')
        total = self.model.search_count(domain) if len(records) == limit or offset else len(records)
        return Answer(200, {'items': [self.mapping.build(record) for record in records], 'total': total,
                            'limit': limit, 'offset': offset}, res_ids=records.ids)

    def _create(self):
        key = (self.call.incoming.headers.get('Idempotency-Key') or '').strip()
        claimed = None
        if key:
            replay, claimed = self._replay_or_claim(key, hashlib.sha256(self.call.body).hexdigest())
            if replay:
                return replay
        values = self.reverse.values(self.model, self.data)
        identifier = self.reverse.identifier
        if identifier and identifier.field and identifier.field in values and \
                self.model.search_count([(identifier.field, '=', values[identifier.field])], limit=1):
            raise Refusal(409, self.env._("A record with %(key)s %(value)s already exists.",
                                          key=identifier.name, value=values[identifier.field]), identifier.line_id)
        record = self.model.create(values)
        self._check_in_domain(record)
        body = self.mapping.build(record)
        location = f"{API_PREFIX}/{self.endpoint.name}/{self._ident_of(body, record)}"
        answer = Answer(201, body, {'Location': location}, res_ids=record.ids)
        if claimed:
            claimed.write({'status_code': 201, 'response_body': to_json_text(body), 'location': location})
        return answer

    def _replay_or_claim(self, key, request_hash):
        """(the first answer to a POST with this Idempotency-Key, None), or (None, the key's row) once this
        request has claimed the key."""
        Idempotency = self.env['bj.api.sync.idempotency'].sudo()
        if len(key) > 255:
            raise Refusal(400, self.env._("The Idempotency-Key is longer than 255 characters."))
        earlier = Idempotency.search([('config_id', '=', self.endpoint.config_id), ('key', '=', key)])
        if earlier and not earlier.expired():
            if earlier.request_hash != request_hash:
                raise Refusal(422, self.env._("This Idempotency-Key was used with another body."))
            if not earlier.status_code:
                raise Refusal(409, self.env._("A request with this Idempotency-Key is being processed; try again."))
            return Answer(earlier.status_code, json.loads(earlier.response_body),
                          {'Location': earlier.location, 'Idempotent-Replayed': 'true'} if earlier.location
                          else {'Idempotent-Replayed': 'true'}), None
        earlier.unlink()
        # A concurrent request with the same key makes this wait for it, then fail to serialize:
        # Odoo runs this request again, and the check above replays the other's answer.
        claimed = Idempotency.claim(self.endpoint.config_id, key, request_hash)
        if not claimed:
            raise Refusal(409, self.env._("A request with this Idempotency-Key is being processed; try again."))
        return None, claimed

    def _ident_of(self, body, record):
        identifier = self.reverse.identifier
        if identifier is None:
            return record.id
        value = body
        for part in identifier.path:
            value = value.get(part) if isinstance(value, dict) else None
        return value if value not in (None, '') else record.id

    def _check_in_domain(self, record):
        if self.domain and not self.model.search_count([('id', '=', record.id)] + self.domain, limit=1):
            raise Refusal(400, self.env._("The record would be outside this endpoint's domain: %(domain)s",
                                          domain=self.endpoint.domain))


def _count_parameter(env, args, name, default, low, high):
    text = args.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise Refusal(400, env._("%(name)s must be a whole number, %(bounds)s.", name=name, bounds=bounds))
    return value


def allowed_methods(names, item):
    """Of the method ``names`` a config allows, those of its collection (``/endpoint``) or of one record
    (``/endpoint/<id>``)."""
    return [method for method in (ITEM_METHODS if item else COLLECTION_METHODS) if method in names]


def max_bytes(env):
    try:
        return int(env['ir.config_parameter'].sudo().get_param('bj_api_sync.inbound_max_bytes', DEFAULT_MAX_BYTES))
    except ValueError:
        return DEFAULT_MAX_BYTES
