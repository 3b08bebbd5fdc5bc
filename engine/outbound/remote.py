"""Remote ids and response processing: keeping the remote system in sync, not only sending to it.

Most APIs give a record their own id when it is created (``POST /partners`` → ``{"id": 81}``) and
expect it in later calls (``PUT /partners/81``). A config keeps those ids in a *scope* shared by the
configs of one remote resource (``bj.api.sync.link``, one row per scope and record):

* before a request is sent, ``resolve()`` fills ``{remote_id}`` from the link, or says that the
  record goes through the fallback config (upsert), or why it is skipped (no remote id; the payload
  unchanged since the last delivery in the scope);
* after a successful answer, ``learn()`` stores the id found at ``remote_id_path``, the payload's
  hash, and writes the response values back to the record; a DELETE drops the link. What cannot be
  processed is told on the attempt's log row; the delivery still counts as sent.

Values written back never make this addon deliver the record again: the records are marked in the
transaction, and the change capture skips them (``engine/outbox/capture.py``).
"""
import contextlib
import dataclasses
import hashlib
import json
from typing import TYPE_CHECKING

from odoo.tools import SQL
from odoo.tools.translate import LazyGettext, LazyTranslate

from ..shared.transaction import transaction_data

if TYPE_CHECKING:
    from odoo.api import Environment
    from odoo.models import BaseModel

    from ..shared.transport import Attempt

_lt = LazyTranslate(__name__)

REMOTE_ID = 'remote_id'
GONE_ON_DELETE = (404, 410)       # a DELETE answered so: the remote object is already gone
_WRITTEN_BACK = 'bj_api_sync.written_back'


def scope_of(config_id: int, scope) -> str:
    """The scope a config keeps its remote ids in: its own, unless it shares one."""
    return (scope or '').strip() or f'config:{config_id}'


def payload_hash(body: object) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def written_back(env: 'Environment') -> set[tuple[str, int]]:
    """{(model, id)} of the records whose response values are being written back now."""
    return transaction_data(env.cr, _WRITTEN_BACK, set)


@contextlib.contextmanager
def writing_back(record: 'BaseModel'):
    """While response values are written to ``record`` (and what that write runs: rules, recomputes,
    the flush of its savepoint), no change capture sends it again. Kept in the transaction's data:
    the savepoint's flush clears the precommit data."""
    writing = written_back(record.env)
    key = (record._name, record.id)
    writing.add(key)
    try:
        yield
    finally:
        writing.discard(key)


@dataclasses.dataclass(frozen=True)
class RemoteSettings:
    """What a profile needs of a config's remote ids."""
    scope: str
    ordering: str | None = None      # jobs of one record in this scope go out in order, across configs
    id_path: str | None = None
    response_lines: tuple = ()       # (response path, field name)
    fallback_config_id: int | None = None
    skip_unchanged: bool = False
    needs_remote_id: bool = False    # the URL has {remote_id}

    @classmethod
    def read(cls, config: 'BaseModel',  # pylint: disable=method-required-super  # not an Odoo model
             needs_remote_id: bool) -> 'RemoteSettings':
        return cls(
            scope=scope_of(config.id, config.remote_id_scope),
            ordering=(config.remote_id_scope or '').strip() or str(config.id),
            id_path=(config.remote_id_path or '').strip() or None,
            response_lines=tuple((line.response_path.strip(), line.field_id.name)
                                 for line in config.response_line_ids if line.field_id),
            fallback_config_id=config.fallback_config_id.id or None,
            skip_unchanged=config.skip_unchanged,
            needs_remote_id=needs_remote_id,
        )

    @property
    def active(self) -> bool:
        """Does this config use remote ids at all? (Configs that do not pay nothing for them.)"""
        return bool(self.id_path or self.response_lines or self.fallback_config_id or self.skip_unchanged
                    or self.needs_remote_id)


class RemoteIds:
    """One profile's remote ids in one transaction."""

    def __init__(self, profile, env: 'Environment') -> None:
        self.profile = profile
        self.settings = profile.remote
        self.env = env

    def links(self, record_ids: list[int]) -> dict[int, tuple[str | None, str | None]]:
        """{record id: (remote id, payload hash)} of ``record_ids`` in the scope: one query."""
        if not record_ids:
            return {}
        self.env.cr.execute("""SELECT res_id, remote_id, payload_hash FROM bj_api_sync_link
                                WHERE scope = %s AND res_model = %s AND res_id IN %s""",
                            [self.settings.scope, self.profile.model, tuple(record_ids)])
        return {res_id: (remote_id, digest) for res_id, remote_id, digest in self.env.cr.fetchall()}

    def resolve(self, item) -> tuple[object, LazyGettext | None, bool]:
        """Before sending ``item``: (the item to send, with ``{remote_id}`` filled; the reason it is
        skipped, or None; True when it goes through the fallback config instead)."""
        settings = self.settings
        if not settings.active or item.body is None:
            return item, None, False
        link = self.links(item.record_ids).get(item.record_ids[0]) if len(item.record_ids) == 1 else None
        remote_id = link[0] if link else None
        if settings.needs_remote_id and not remote_id:
            if settings.fallback_config_id:
                return item, None, True
            return item, _lt("no remote id in scope %(scope)s yet, and no fallback configuration: nothing sent",
                             scope=settings.scope), False
        if settings.skip_unchanged and link and link[1] == payload_hash(item.body):
            return item, _lt("unchanged since the last delivery in scope %(scope)s", scope=settings.scope), False
        if settings.needs_remote_id:
            item = dataclasses.replace(item, url_values={**(item.url_values or {}), REMOTE_ID: remote_id})
        return item, None, False

    def learn(self, item, attempt: 'Attempt') -> list[LazyGettext]:
        """After a successful answer to ``item``: keep what it tells. Returns what could not be
        processed: sentences (maybe lazy translations) for the log row."""
        settings = self.settings
        if not settings.active:
            return []
        if self.profile.method == 'DELETE':
            self._drop(item.record_ids)
            return []
        notes = []
        wanted = settings.id_path or settings.response_lines
        answer = None
        if wanted:
            try:
                answer = json.loads(attempt.response_text) if attempt.response_text else None
            except ValueError:
                notes.append(_lt("the response is not JSON: no remote id or value was read from it"))
        answers = self._per_record(item, answer, notes) if answer is not None else {}
        bodies = item.body if isinstance(item.body, list) else [item.body]
        kept = []
        # strict=False: a payload script may reshape a page's body (fewer or more items than records).
        for record_id, body in zip(item.record_ids, bodies, strict=False):
            remote_id = None
            record_answer = answers.get(record_id)
            if settings.id_path and record_answer is not None:
                remote_id = _at_path(record_answer, settings.id_path)
                if remote_id is None:
                    notes.append(_lt("no remote id at '%(path)s' in the response", path=settings.id_path))
            kept.append((record_id, None if remote_id is None else str(remote_id), payload_hash(body)))
            if record_answer is not None and settings.response_lines:
                notes += self._write_back(record_id, record_answer)
        self._keep(kept)
        return notes

    def _per_record(self, item, answer, notes):
        """{record id: its part of the response}: the whole of it for one record; item i of an array
        as long as the page for a page of records."""
        if len(item.record_ids) == 1:
            return {item.record_ids[0]: answer}
        if isinstance(answer, list) and len(answer) == len(item.record_ids):
            return dict(zip(item.record_ids, answer, strict=True))  # same length: checked above
        notes.append(_lt("the response is not an array of %(count)s items, one per record of the page: "
                         "no remote id or value was stored", count=len(item.record_ids)))
        return {}

    def _keep(self, kept):
        """Store the (record id, remote id or None, payload hash) of a request's records: one statement."""
        now, uid = self.env.cr.now(), self.env.uid
        rows = SQL(", ").join(
            SQL("(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", self.settings.scope, self.profile.model, record_id,
                remote_id, digest, self.profile.config_id, now, now, now, uid, uid)
            for record_id, remote_id, digest in kept)
        self.env.cr.execute(SQL("""
            INSERT INTO bj_api_sync_link (scope, res_model, res_id, remote_id, payload_hash, config_id,
                                          last_sync_date, create_date, write_date, create_uid, write_uid)
            VALUES %s
            ON CONFLICT (scope, res_model, res_id) DO UPDATE
               SET remote_id = COALESCE(EXCLUDED.remote_id, bj_api_sync_link.remote_id),
                   payload_hash = EXCLUDED.payload_hash, config_id = EXCLUDED.config_id,
                   last_sync_date = EXCLUDED.last_sync_date, write_date = EXCLUDED.write_date,
                   write_uid = EXCLUDED.write_uid
        """, rows))
        self.env['bj.api.sync.link'].invalidate_model()

    def _drop(self, record_ids):
        self.env.cr.execute("DELETE FROM bj_api_sync_link WHERE scope = %s AND res_model = %s AND res_id IN %s",
                            [self.settings.scope, self.profile.model, tuple(record_ids)])
        self.env['bj.api.sync.link'].invalidate_model()

    def _write_back(self, record_id, answer):
        """Write the response values to the record; the sentences of those that could not be written."""
        record = self.env[self.profile.model].browse(record_id).exists()
        if not record:
            return []
        notes = []
        for path, field_name in self.settings.response_lines:
            value = _at_path(answer, path)
            if value is None:
                notes.append(_lt("no value at '%(path)s' in the response for %(field)s", path=path, field=field_name))
                continue
            try:
                with writing_back(record), self.env.cr.savepoint():
                    record.write({field_name: value})
                    record.flush_recordset()
            except Exception as error:  # noqa: BLE001 - told on the log row; the delivery stays sent
                notes.append(_lt("the value at '%(path)s' could not be written to %(field)s: %(error)s",
                                 path=path, field=field_name, error=error))
        return notes


def _at_path(answer, path):
    """The value at a dotted ``path`` in a JSON answer, or None."""
    value = answer
    for part in path.split('.'):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value
