"""Inbound endpoints: external systems read, create, update and delete Odoo records through a config.

``serve()`` is the one front door (the controller only translates HTTP). For one request it:

1. finds the active inbound config of the endpoint (404 otherwise), read once into an ``Endpoint``
   that the config caches until it changes;
2. admits the request, in this order: rate limit (429), body size (413), credentials (401), Standard
   Webhooks signature (401), method (405), a NUL in the URL (400), content type (415), JSON (400);
3. does the work as the config's inbound user (access rights and record rules apply); any refusal or
   error rolls the transaction back, undoing everything the request wrote (a batch's objects each
   have a savepoint of their own);
4. answers JSON (errors as ``{"error", "status_code", "line_id"}``), never a traceback;
5. writes one ``bj.api.log`` row (direction ``in``), secrets masked.

The request is one transaction (Odoo's, committed after the answer): on success the records and the
log row are committed together; on a refusal only the log row. A concurrency failure is left to Odoo,
which runs the request again on a fresh snapshot, except on its last try, answered 503.

What the client gets wrong is checked before the database is asked (``reverse.py``); what only the
database can refuse (a constraint the values break) is answered 400, or 409 for a record still in use,
and Odoo's "bad query" line for it is logged at INFO, not ERROR, as is the line of a concurrency
failure, which Odoo answers by running the request again: the server log's errors are the server's.

An identifier a request gives (a create, a new identifier) is claimed in the same query that checks it
is free (``bj.api.sync.identifier.claim``): a request giving it at the same moment waits for the first,
then runs again and is refused (409), one record per identifier.
"""
import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import re
import threading
import time
import urllib.parse

import psycopg2
from psycopg2 import errorcodes

from odoo import SUPERUSER_ID, fields
from odoo.exceptions import AccessDenied, AccessError, MissingError, UserError
from odoo.models import BaseModel
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

from ... import compat
from ..outbox import health
from ..shared import auth, echo, signing
from ..shared.logbook import LogBook, Redactor, headers_text, row, truncate
from ..shared.payload import MappingError, to_json_text
from ..shared.sandbox import ScriptError, eval_domain
from .reverse import INTEGER_RANGE, InputError, any_text

_logger = logging.getLogger(__name__)

API_PREFIX = '/bj_api_sync/v1'
MAX_LIMIT = 1000
MAX_OFFSET = INTEGER_RANGE[1]
MAX_BATCH = 1000
MAX_KEY_LENGTH = 255
DEFAULT_MAX_BYTES = 1024 * 1024
IDEMPOTENCY_HOURS = 24
# PUT on the collection is the batch upsert.
COLLECTION_METHODS = ('GET', 'POST', 'PUT')
ITEM_METHODS = ('GET', 'PUT', 'PATCH', 'DELETE')
BODY_METHODS = ('POST', 'PUT', 'PATCH')
JSON_TYPES = ('application/json',)
# A JSON escape of half a surrogate pair: text unless unpaired.
_SURROGATE_ESCAPE = re.compile(rb'\\u[dD][89a-fA-F]')
_COUNT = re.compile(r'-?\d{1,18}', re.ASCII)


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
    languages: tuple = ()  # the Accept-Language tags, preferred first


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

    @functools.cached_property
    def text(self):
        """The body as JSON text (made once, for the client and the log row), '' without one."""
        return to_json_text(self.body) if self.body is not None else ''


class Refusal(Exception):
    """The request is answered with an error; everything it wrote is rolled back."""

    def __init__(self, status, message, line_id=None, headers=None):
        super().__init__(message)
        self.answer = Answer(status, error_body(status, message, line_id), headers or {})


def error_body(status, message, line_id=None):
    return {'error': str(message), 'status_code': status, 'line_id': line_id}


class _QuietAnsweredErrors(logging.Filter):
    """Lowers Odoo's "bad query" ERROR line to INFO for an integrity error raised while an inbound request
    does its work in this thread: the values broke a constraint, which the client is answered; and for a
    concurrency failure (requests writing the same records at once), for which Odoo runs the request
    again, or the client is answered 503 on the last try."""

    def __init__(self):
        super().__init__()
        self.local = threading.local()

    def filter(self, record):
        if getattr(self.local, 'active', False) and record.levelno == logging.ERROR and \
                isinstance(record.args, tuple) and any(isinstance(arg, _ANSWERED) for arg in record.args):
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True

    @contextlib.contextmanager
    def active(self):
        self.local.active = True
        try:
            yield
        finally:
            self.local.active = False


_ANSWERED = (psycopg2.IntegrityError, *PG_CONCURRENCY_EXCEPTIONS_TO_RETRY)
_QUIET = _QuietAnsweredErrors()
logging.getLogger('odoo.sql_db').addFilter(_QUIET)


def serve(env, endpoint, ident, incoming, last_try=True):
    """Answer one request to ``/bj_api_sync/v1/<endpoint>[/<ident>]``; never raises, but for a
    concurrency failure Odoo retries (unless ``last_try``)."""
    started = time.monotonic()
    env = env(user=SUPERUSER_ID)
    served = env['bj.api.sync.config']._inbound_endpoint(endpoint) if endpoint else None
    if served:
        # Answers speak the inbound user's language (their context is cached by Odoo).
        env = env(context={**env.context, **env(user=served.user_id)['res.users'].context_get()})
    else:
        env = env(context={**env.context, 'lang': best_language(env, incoming.languages)})
    call = _Call(env, served, ident, incoming)
    answer = call.answer(last_try)
    call.log(answer, started)
    return answer


def best_language(env, tags):
    """The installed language that the first of the Accept-Language ``tags`` it can match asks for
    (``uk``, ``uk-UA``), else English."""
    installed = {code.lower(): code for code, _name in env['res.lang'].get_installed()}
    for tag in tags:
        wanted = tag.replace('-', '_').lower()
        code = installed.get(wanted) or next(
            (code for lowered, code in installed.items() if lowered.split('_')[0] == wanted.split('_')[0]), None)
        if code:
            return code
    return 'en_US'


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
            work = _Work(self, self._admit())
            with _QUIET.active():
                answer = work.run()
                self.env.flush_all()
            return answer
        except Refusal as refusal:
            self.env.cr.rollback()
            return refusal.answer
        except Exception as error:  # noqa: BLE001 - every error becomes an answer; none leaves as a traceback
            # What the request wrote is undone (no savepoint costs a successful request anything); the
            # log row is written in the transaction that follows.
            self.env.cr.rollback()
            return self._error_answer(error, last_try)

    def _error_answer(self, error, last_try):
        refusal = client_refusal(self.env, error)
        if refusal:
            return refusal.answer
        if isinstance(error, PG_CONCURRENCY_EXCEPTIONS_TO_RETRY):
            if not last_try:
                raise error
            return Refusal(503, self.env._("The records are being changed by another request; try again."),
                           headers={'Retry-After': '1'}).answer
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
        allowed = allowed_methods(endpoint.methods, self.ident is not None, self.ident is None and self._upserts())
        if incoming.method not in allowed:
            raise Refusal(405, self.env._("Method %(method)s is not allowed here; allowed: %(allowed)s.",
                                 method=incoming.method, allowed=', '.join(allowed) or '-'),
                          headers={'Allow': ', '.join(allowed)})
        if '\x00' in (self.ident or '') or \
                any('\x00' in name + value for name, value in incoming.args.items(multi=True)):
            raise Refusal(400, self.env._("The URL holds a NUL character, which no record can hold."))
        if incoming.method not in BODY_METHODS:
            return None
        if incoming.mimetype not in JSON_TYPES and not incoming.mimetype.endswith('+json'):
            raise Refusal(415, self.env._("The body must be JSON (Content-Type: application/json), not %(type)s.",
                                 type=incoming.mimetype or '-'))
        try:
            data = json.loads(self.body, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as error:
            raise Refusal(400, self.env._("The body is not valid JSON: %(error)s", error=error)) from None
        if _SURROGATE_ESCAPE.search(self.body) and any_text(data, _not_unicode):
            raise Refusal(400, self.env._("The body holds an unpaired surrogate (\\ud800-\\udfff), which is not text."))
        return data

    def _upserts(self):
        return self.env['bj.api.sync.config'].browse(self.endpoint.config_id)._compiled_reverse_mapping().upserts

    def log(self, answer, started):
        """The request's one log row, with every secret masked."""
        incoming, endpoint = self.incoming, self.endpoint
        secrets = self.auth.secrets() + [secret for secret, _until in endpoint.signing_secrets] if endpoint else []
        redactor = Redactor(secrets)
        url = incoming.path + (f"?{incoming.query_string}" if incoming.query_string else '')
        error = answer.body.get('error') if answer.status >= 400 and isinstance(answer.body, dict) else None
        LogBook(self.env, journaled=False).write(row(
            _storable(f"{incoming.method} {incoming.path}"[:200]), 'success' if answer.status < 400 else 'error',
            answer.res_ids, direction='in', config_id=endpoint.config_id if endpoint else False,
            http_method=incoming.method, url=_storable(redactor.url(url)), client_address=incoming.client,
            request_headers=_storable(headers_text(redactor.headers(dict(incoming.headers.items())))),
            request_body=_storable(truncate(redactor.text(self.body.decode('utf-8', 'replace')))),
            response_status_code=answer.status,
            response_headers=headers_text(answer.headers) if answer.headers else False,
            response_body=truncate(answer.text), error_message=_storable(error),
            duration_ms=round((time.monotonic() - started) * 1000), attempt=1,
            res_model=endpoint.model_name if endpoint else False))


def client_refusal(env, error):
    """The Refusal answering ``error`` when the client caused it (what it sent, its rights, a missing
    record, a constraint its values break), else None."""
    if isinstance(error, InputError):
        return Refusal(error.status, error.message, error.line_id)
    if isinstance(error, (AccessError, AccessDenied)):
        return Refusal(403, env._("The endpoint's user may not do this: %(reason)s", reason=error.args[0]))
    if isinstance(error, MissingError):
        return Refusal(404, env._("Record not found."))
    if isinstance(error, UserError):
        return Refusal(400, error.args[0])
    if isinstance(error, psycopg2.IntegrityError):
        in_use = error.pgcode == errorcodes.FOREIGN_KEY_VIOLATION
        return Refusal(409 if in_use else 400, compat.integrity_message(env, error))
    return None


class _Work:
    """What an admitted request does, as the inbound user."""

    def __init__(self, call, data):
        endpoint = call.endpoint
        config = call.env['bj.api.sync.config'].browse(endpoint.config_id)
        self.call = call
        self.endpoint = endpoint
        self.data = data
        # The change capture knows these changes came from this endpoint: no echo back to its system.
        self.env = call.env(user=endpoint.user_id, context={**call.env.context, echo.ORIGIN: endpoint.config_id})
        self.model = self.env[endpoint.model_name]
        self.mapping = config._compiled_mapping()
        self.reverse = config._compiled_reverse_mapping()
        self.domain = eval_domain(self.env, endpoint.domain, endpoint.label)

    def run(self):
        method, ident = self.call.incoming.method, self.call.ident
        if ident is None:
            return {'GET': self._list, 'POST': self._post, 'PUT': self._batch}[method]()
        record = self._find(ident)
        if method == 'GET':
            return Answer(200, self.mapping.build(record), res_ids=record.ids)
        if method == 'DELETE':
            record_id = record.id
            self._delete(record)
            return Answer(204, res_ids=[record_id])
        values = self.reverse.values(self.model, self.data, record)
        self._check_identifier_free(values, record)
        self._update(record, values)
        self._check_in_domain(record)
        return Answer(200, self.mapping.build(record), res_ids=record.ids)

    # Every record an inbound request writes is written here.
    def _create(self, vals_list):
        return self.model.create(vals_list)

    def _update(self, record, values):
        record.write(values)

    def _delete(self, record):
        record.unlink()

    def _find(self, ident):
        """The record the URL names: found, with its rules and the endpoint's domain, in one query."""
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
        args = self.call.incoming.args
        limit = _count_parameter(self.env, args, 'limit', self.endpoint.page_size, 1, MAX_LIMIT)
        offset = _count_parameter(self.env, args, 'offset', 0, 0, MAX_OFFSET)
        # Credentials sent in the query string (an API key) are no filter.
        credentials = self.endpoint.auth.query_parameters()
        pairs = [(name, value) for name, value in args.items(multi=True) if name not in credentials]
        domain = self.reverse.domain(self.model, pairs) + self.domain
        records = self.model.search_fetch(domain, self.mapping.stored_fields(), limit=limit, offset=offset,
                                          order='id')
        total = self.model.search_count(domain) if len(records) == limit or offset else len(records)
        return Answer(200, {'items': [self.mapping.build(record) for record in records], 'total': total,
                            'limit': limit, 'offset': offset}, res_ids=records.ids)

    def _post(self):
        key = (self.call.incoming.headers.get('Idempotency-Key') or '').strip()
        claimed = None
        if key:
            replay, claimed = self._replay_or_claim(key, hashlib.sha256(self.call.body).hexdigest())
            if replay:
                return replay
        values = self.reverse.values(self.model, self.data)
        self._check_identifier_free(values)
        record = self._create([values])
        self._check_in_domain(record)
        body = self.mapping.build(record)
        location = self._location(body, record)
        answer = Answer(201, body, {'Location': location}, res_ids=record.ids)
        if claimed:
            claimed.write({'status_code': 201, 'response_body': to_json_text(body), 'location': location,
                           'res_id': record.id})
        return answer

    def _replay_or_claim(self, key, request_hash):
        """(the first answer to a POST with this Idempotency-Key, None), or (None, the key's row) once this
        request has claimed the key."""
        if len(key) > MAX_KEY_LENGTH or '\x00' in key:
            raise Refusal(400, self.env._("The Idempotency-Key is longer than %(length)s characters or holds a NUL "
                                          "character.", length=MAX_KEY_LENGTH))
        Idempotency = self.env['bj.api.sync.idempotency'].sudo()
        earlier = Idempotency.wait_for(self.endpoint.config_id, key, self.model._table)
        if earlier and not earlier['expired']:
            if earlier['request_hash'] != request_hash:
                raise Refusal(422, self.env._("This Idempotency-Key was used with another body."))
            if not earlier['record_exists']:
                raise Refusal(409, self.env._("The record this Idempotency-Key created has been deleted since."))
            headers = {'Idempotent-Replayed': 'true'}
            if earlier['location']:
                headers['Location'] = earlier['location']
            return Answer(earlier['status_code'], json.loads(earlier['response_body']), headers), None
        if earlier:
            Idempotency.browse(earlier['id']).unlink()
        return None, Idempotency.claim(self.endpoint.config_id, key, request_hash)

    def _batch(self):
        """Upsert each object of the body by its identifier: one answer per object, in order; each is
        created, updated or refused on its own (a duplicate identifier, Odoo's checks, rights), but an
        object the endpoint cannot read (what a POST would refuse before writing) refuses the batch."""
        items = self.data
        if not isinstance(items, list):
            raise Refusal(400, self.env._("The body must be a JSON array of objects."))
        if len(items) > MAX_BATCH:
            raise Refusal(400, self.env._("A batch holds at most %(count)s objects.", count=MAX_BATCH))
        results = [None] * len(items)
        pending, seen = [], set()
        for index, item in enumerate(items):
            try:
                values = self.reverse.values(self.model, item)
            except InputError as error:
                # An object the endpoint cannot read is the client's mistake: the batch is refused whole.
                raise Refusal(error.status, self.env._("object %(index)s: %(error)s", index=index, error=error.message),
                              error.line_id) from None
            ident = self.reverse.identifier_value(values)
            if ident in seen:
                results[index] = _refused(409, self.env._("The identifier %(ident)s is in this batch more than once.",
                                                 ident=ident), self.reverse.identifier.line_id)
                continue
            seen.add(ident)
            pending.append((index, item, values, ident))
        existing = self._existing(seen)
        creates, updates, new_idents = [], [], []
        for index, item, values, ident in pending:
            record = existing.get(ident)
            if record is None:
                creates.append((index, values))
                new_idents.append(ident)
            elif not record:
                results[index] = _refused(*self._taken(ident))
            else:
                updates.append((record.id, index, record, item))
        # In the order of the records, whatever the body's: batches updating the same records at once wait
        # for each other instead of deadlocking.
        for _record_id, index, record, item in sorted(updates, key=lambda update: update[:2]):
            results[index] = self._item(lambda record=record, item=item: self._upsert_update(record, item))
        if creates:
            # A batch creating one of these at the same moment makes this one wait, then run again.
            self._claim([ident for ident in new_idents if ident is not None])
        self._batch_create(creates, results)
        written = self.model.browse([result.pop('id') for result in results if 'id' in result])
        bodies = iter(self.mapping.build(record) for record in written)
        for result in results:
            if result['status'] != 'refused':
                result['record'] = next(bodies)
        counts = {status: sum(result['status'] == status for result in results)
                  for status in ('created', 'updated', 'refused')}
        return Answer(200, {'items': results, **counts}, res_ids=written.ids)

    def _existing(self, idents):
        """{identifier: its record in the endpoint's domain, or an empty recordset if it is outside}, of
        the records the inbound user can see with one of ``idents``."""
        field = self.reverse.identifier.field
        found = self.model.search_fetch([(field, 'in', list(idents))], [field, *self.mapping.stored_fields()]) \
            if idents else self.model
        inside = self.model.search([('id', 'in', found.ids)] + self.domain) if self.domain and found else found
        return {_field_value(record, field): record if record in inside else self.model for record in found}

    def _upsert_update(self, record, item):
        values = self.reverse.values(self.model, item, record)
        self._update(record, values)
        self._check_in_domain(record)
        return record, 'updated', 200

    def _batch_create(self, creates, results):
        """Create the new records together; if that fails, one by one, so each failure is its own."""
        if not creates:
            return
        try:
            with self.env.cr.savepoint():
                records = self._create([values for _index, values in creates])
                self.env.flush_all()
                if self.domain and self.model.search_count([('id', 'in', records.ids)] + self.domain) < len(records):
                    raise _OneByOne()
        except Exception as error:  # noqa: BLE001 - a client's mistake: each record is tried alone
            if not isinstance(error, _OneByOne) and (isinstance(error, PG_CONCURRENCY_EXCEPTIONS_TO_RETRY)
                                                      or client_refusal(self.env, error) is None):
                raise
            self.env.invalidate_all()
            for index, values in creates:
                results[index] = self._item(lambda values=values: self._create_checked(values))
            return
        for (index, _values), record in zip(creates, records, strict=True):
            results[index] = {'status': 'created', 'status_code': 201, 'id': record.id}

    def _create_checked(self, values):
        record = self._create([values])
        self._check_in_domain(record)
        return record, 'created', 201

    def _item(self, write):
        """One object's result: ``write()`` in a savepoint of its own, or its refusal."""
        try:
            with self.env.cr.savepoint():
                record, status, code = write()
                self.env.flush_all()
        except Refusal as refusal:
            return {'status': 'refused', **refusal.answer.body}
        except Exception as error:  # noqa: BLE001 - a client's mistake refuses the object, anything else the batch
            refusal = client_refusal(self.env, error)
            if refusal is None or isinstance(error, PG_CONCURRENCY_EXCEPTIONS_TO_RETRY):
                raise
            self.env.invalidate_all()
            return {'status': 'refused', **refusal.answer.body}
        return {'status': status, 'status_code': code, 'id': record.id}

    def _check_identifier_free(self, values, record=None):
        """409 if the identifier ``values`` give is another record's, whoever may see it: an identifier is
        unique as a database key is (the answer tells nothing more of that record). Without record rules
        this is one plain query, where the user's rules would cost more than the create itself; the same
        query claims the identifier, so that a request giving it at the same moment waits, then is run
        again and refused."""
        ident = self.reverse.identifier_value(values)
        if ident is None:
            return
        field = self.reverse.identifier.field
        if record is not None and _field_value(record, field) == ident:
            return
        others = [('id', '!=', record.id)] if record is not None else []
        taken = self.model.sudo()._search([(field, '=', ident), *others], limit=1)
        if self._claim([ident], taken.select()):
            raise Refusal(*self._taken(ident))

    def _claim(self, idents, taken=None):
        """Claim ``idents`` until the request ends (see bj.api.sync.identifier.claim); with ``taken`` (a
        query), whether it finds a record."""
        return self.env['bj.api.sync.identifier.claim'].sudo().claim(
            self.model._name, self.reverse.identifier.field, idents, taken)

    def _taken(self, ident):
        return 409, self.env._("A record with %(key)s %(value)s already exists.", key=self.reverse.identifier.name,
                               value=ident), self.reverse.identifier.line_id

    def _location(self, body, record):
        """The URL of the record: its identifier as the body gives it, or its Odoo id."""
        identifier = self.reverse.identifier
        value = body
        for part in identifier.path if identifier else ():
            value = value.get(part) if isinstance(value, dict) else None
        ident = value if identifier and value not in (None, '') else record.id
        return f"{API_PREFIX}/{self.endpoint.name}/{urllib.parse.quote(str(ident), safe='')}"

    def _check_in_domain(self, record):
        if self.domain and not self.model.search_count([('id', '=', record.id)] + self.domain, limit=1):
            raise Refusal(400, self.env._("The record would be outside this endpoint's domain: %(domain)s",
                                          domain=self.endpoint.domain))


class _OneByOne(Exception):
    """Records created together must be created one by one, to refuse only those that fail."""


def _field_value(record, name):
    """``record``'s value of field ``name`` as written: a related record's id."""
    value = record[name]
    return value.id if isinstance(value, BaseModel) else value


def _refused(status, message, line_id=None):
    return {'status': 'refused', **error_body(status, message, line_id)}


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _not_unicode(text):
    """Whether ``text`` holds an unpaired surrogate, which is not Unicode."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def _storable(text):
    """``text`` without NUL characters, which no log column can hold."""
    return text.replace('\x00', '\\u0000') if text else text


def _count_parameter(env, args, name, default, low, high):
    text = args.get(name)
    if text is None:
        return default
    value = int(text) if _COUNT.fullmatch(text) else None
    if value is None or not low <= value <= high:
        bounds = f"{low}..{high}"
        raise Refusal(400, env._("%(name)s must be a whole number, %(bounds)s.", name=name, bounds=bounds))
    return value


def allowed_methods(names, item, upserts):
    """Of the method ``names`` a config allows, those of its collection (``/endpoint``) or of one record
    (``/endpoint/<id>``); PUT on the collection (the batch upsert) needs PUT and POST, and a mapping
    that ``upserts`` (writes an identifier)."""
    if item:
        return [method for method in ITEM_METHODS if method in names]
    return [method for method in COLLECTION_METHODS if method in names
            and (method != 'PUT' or ('POST' in names and upserts))]


def max_bytes(env):
    try:
        return int(env['ir.config_parameter'].sudo().get_param('bj_api_sync.inbound_max_bytes', DEFAULT_MAX_BYTES))
    except ValueError:
        return DEFAULT_MAX_BYTES
