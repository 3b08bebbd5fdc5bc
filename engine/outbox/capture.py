"""Change capture: the one path of every send that a record change causes.

Three kinds of callers hand their changes to it, and all get the same behaviour:

* the native capture: configs with *Sync on* create, update or delete. The models they
  watch get their ``create``, ``write``, ``_compute_field_value`` and ``unlink`` hooked
  by ``register()``, as ``base_automation`` hooks them for its rules (and together
  with them: see ``models/base_automation.py``);
* the automation rules made by the config form (``_send_from_automation``);
* ``_make_outbound_http_request`` called by the code of an automation rule, such as a
  rule written by hand as the user guide shows.

Within one transaction a config delivers each record once. The delivery is planned at
precommit from the record's final state; the config's domain is evaluated then.
Deliveries become jobs in the committing transaction (one INSERT). Queued ones wake the
dispatcher cron; immediate ones are dispatched right after the commit by a thread of the
committing process (``eager.py``), so the user's request never waits for the remote API.
Nothing is sent for a rollback, and a network failure cannot undo the user's change.

Records whose response values are being written back are never captured again
(``remote.written_back``), so a write-back cannot loop through any of the three paths.

A record deleted in the transaction is sent with the payload it had before the unlink.
The native capture takes that payload in its unlink hook. A rule call takes it at every
call, since a rule cannot know whether the record will be deleted later.
"""
import collections
import dataclasses
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from odoo import SUPERUSER_ID, api
from odoo.exceptions import MissingError

from ..outbound.front_door import Outbound
from ..outbound.planning import Planned
from ..outbound.remote import written_back
from ..shared import echo
from . import eager

if TYPE_CHECKING:
    from odoo.api import Environment
    from odoo.models import BaseModel

_logger = logging.getLogger(__name__)
_CAPTURED = 'bj_api_sync.captured'
_WATCHES = 'bj_api_sync.watches'
_CREATED = 'bj_api_sync.created'
_EAGER = 'bj_api_sync.eager'

CREATE, UPDATE, DELETE = 'create', 'update', 'delete'
HOOKED_METHODS = ('create', 'write', '_compute_field_value', 'unlink')


@dataclasses.dataclass(frozen=True)
class Watch:
    """What one config's native capture watches on its model."""
    config_id: int
    queued: bool
    events: frozenset[str]        # of CREATE, UPDATE, DELETE
    fields: frozenset[str] | None = None  # an update sends when one of these changes; None: any stored field


@dataclasses.dataclass
class _Pending:
    """One config's records in this transaction: their ids (in order), snapshots and front door."""
    record_ids: dict = dataclasses.field(default_factory=dict)
    snapshots: dict = dataclasses.field(default_factory=dict)
    origins: dict = dataclasses.field(default_factory=dict)   # record id: the inbound endpoint that changed it
    outbound: Outbound = None
    timeout: object = None


class _Transaction:
    """What one transaction captured since its last flush: pending deliveries per (config id, queued)."""

    def __init__(self):
        self.pending = {}

    def entry(self, config_id, queued, timeout=None):
        entry = self.pending.get((config_id, queued))
        if entry is None:
            entry = self.pending[(config_id, queued)] = _Pending(timeout=timeout)
        return entry

    @staticmethod
    def add(entry, records):
        """Add ``records`` to ``entry``, with the inbound endpoint making the change, if any."""
        entry.record_ids.update(dict.fromkeys(records.ids))
        endpoint_id = echo.origin(records.env)
        for record_id in records.ids:
            if endpoint_id:
                entry.origins[record_id] = endpoint_id
            else:
                entry.origins.pop(record_id, None)

    def outbound(self, env, entry, config_id):
        if entry.outbound is None:
            config = env['bj.api.sync.config'].with_context(active_test=False).browse(config_id)
            entry.outbound = Outbound(config, timeout=entry.timeout)
        return entry.outbound


def _transaction(cr):
    captured = cr.precommit.data.get(_CAPTURED)
    if captured is None:
        captured = cr.precommit.data[_CAPTURED] = _Transaction()
        cr.precommit.add(lambda: _prepare(cr))
    return captured


def _superuser(env):
    return env if env.su and env.uid == SUPERUSER_ID else api.Environment(env.cr, SUPERUSER_ID, {})


def _not_written_back(records):
    skip = written_back(records.env)
    return records.filtered(lambda record: (record._name, record.id) not in skip) if skip else records


# Rule calls -------------------------------------------------------------------------------------

def record(config: 'BaseModel', records: 'BaseModel', queued: bool,
           timeout: float | tuple[float, float] | None = None) -> None:
    """A rule call: deliver ``records`` through ``config`` (a superuser record) when the transaction
    commits. The payload is snapshotted now, for a record deleted before the commit."""
    # Records of an onchange (new, without an id) have nothing to send.
    records = _not_written_back(records.filtered('id'))
    if not records:
        return
    entry = _transaction(config.env.cr).entry(config.id, queued, timeout)
    _Transaction.add(entry, records)
    try:
        entry.outbound = entry.outbound or Outbound(config, timeout=timeout)
        entry.snapshots.update(entry.outbound.planner.snapshot(records))
    except Exception:  # noqa: BLE001 - best effort: the same error is reported when the records are planned
        _logger.debug("%s: no snapshot of %s", config.name, records, exc_info=True)


def deferred_result(records: 'BaseModel', queued: bool) -> dict:
    """What ``_make_outbound_http_request`` returns for a call it captured (docs/reference.md)."""
    return {'success': True, 'deferred': True, 'queued': queued, 'record_ids': records.ids,
            'status_code': None, 'response': None, 'log_ids': [], 'errors': [], 'requests': [],
            'skipped_ids': [], 'job_ids': []}


# Native capture ---------------------------------------------------------------------------------

def _model_watches(records):
    """The watches on the model of ``records``: cached by the config model, and kept for the transaction
    (one create runs a dozen hooks; a config saved in it forgets them, see ``forget_watches``)."""
    data = records.env.cr.precommit.data
    watches = data.get(_WATCHES)
    if watches is None:
        watches = data[_WATCHES] = records.env['bj.api.sync.config']._capture_watches()
    return watches.get(records._name, ())


def forget_watches(cr):
    """A config's capture changed in this transaction: the hooks read the watches anew."""
    cr.precommit.data.pop(_WATCHES, None)


def _watches(records, event):
    return [watch for watch in _model_watches(records) if event in watch.events]


def _capture(records, watches):
    records = _not_written_back(records)
    if not records:
        return
    captured = _transaction(records.env.cr)
    for watch in watches:
        captured.add(captured.entry(watch.config_id, watch.queued), records)


def created(records: 'BaseModel') -> None:
    watches = _model_watches(records)
    creating = [watch for watch in watches if CREATE in watch.events]
    if creating:
        _capture(records, creating)
    if any(UPDATE in watch.events for watch in watches):
        # What they go through while being created is no update (see _updatable).
        _created(records.env.cr)[records._name].update(records.ids)


def _created(cr):
    """{model: ids} of the records created since the last flush. A flush (each savepoint makes one)
    plans what was captured before it; a later change of such a record is an update of its own."""
    return cr.precommit.data.setdefault(_CREATED, collections.defaultdict(set))


def _updatable(records):
    """``records`` less those created in this transaction (their creation is what is sent, if anything)."""
    created_ids = _created(records.env.cr).get(records._name)
    records = records.filtered('id')
    return records.filtered(lambda record: record.id not in created_ids) if created_ids else records


def before_update(records: 'BaseModel', names: Iterable[str]) -> tuple | None:
    """Before ``names`` change on ``records``: what to compare after, or None when no watch cares."""
    watches = _watches(records, UPDATE)
    if not watches or not records:
        return None
    fields_ = records._fields
    names = {name for name in names if name in fields_ and fields_[name].store}
    relevant = [(watch, names if watch.fields is None else names & watch.fields) for watch in watches]
    relevant = [(watch, watched) for watch, watched in relevant if watched]
    records = _updatable(records)
    if not relevant or not records:
        return None
    read = set().union(*(watched for _watch, watched in relevant))
    records = records.sudo()
    old = {record.id: {name: record[name] for name in read} for record in records}
    return records, relevant, old


def after_update(before: tuple | None) -> None:
    """After the change: capture, per watch, the records whose watched values differ."""
    if before is None:
        return
    records, relevant, old = before
    for watch, watched in relevant:
        changed = records.browse([record.id for record in records
                                  if any(record[name] != old[record.id][name] for name in watched)])
        if changed:
            _capture(changed, [watch])


def before_delete(records: 'BaseModel') -> None:
    """Before an unlink: capture the deletion for the watches of DELETE, and take the payload of every
    record pending for this model, which the precommit plans after the record is gone."""
    watches = _model_watches(records)
    if not watches or not records:
        return
    deleted = [watch for watch in watches if DELETE in watch.events]
    if deleted:
        _capture(records, deleted)
    captured = records.env.cr.precommit.data.get(_CAPTURED)
    if captured is None:
        return
    env = _superuser(records.env)
    ids = set(records.ids)
    for (config_id, _queued), entry in captured.pending.items():
        pending = [record_id for record_id in entry.record_ids if record_id in ids]
        if not pending or not any(watch.config_id == config_id for watch in watches):
            continue
        try:
            outbound = captured.outbound(env, entry, config_id)
            if outbound.profile.model == records._name:
                entry.snapshots.update(outbound.planner.snapshot(env[records._name].browse(pending)))
        except Exception:  # noqa: BLE001 - best effort: planning reports the record as gone
            _logger.debug("BJ API config %s: no snapshot of %s", config_id, pending, exc_info=True)


def register(env: 'Environment', watches: dict[str, tuple[Watch, ...]]) -> None:
    """Hook the models of ``watches`` ({model: (Watch, ...)}) in this registry, on top of what
    ``base_automation`` hooked. Each method is hooked once, whatever the number of configs."""
    for model_name, model_watches in watches.items():
        Model = env.registry.get(model_name)
        if Model is None:
            _logger.warning("BJ API: model %s is not installed; its configurations capture nothing.", model_name)
            continue
        events = set().union(*(watch.events for watch in model_watches))
        if CREATE in events or UPDATE in events:
            _hook(Model, 'create', _make_create())
        if UPDATE in events:
            _hook(Model, 'write', _make_write())
            _hook(Model, '_compute_field_value', _make_compute_field_value())
        # Any capture hooks unlink: records pending for create or update are snapshotted there.
        _hook(Model, 'unlink', _make_unlink())


def _hook(Model, name, method):
    current = getattr(Model, name)
    origin = current
    while origin is not None:
        if getattr(origin, '_bj_api_sync_capture', False):
            return
        origin = getattr(origin, 'origin', None)
    method._bj_api_sync_capture = True
    method.origin = current
    setattr(Model, name, method)


def is_hooked(Model: type, name: str) -> bool:
    """Whether ``Model.name`` goes through the capture (for tests and diagnostics)."""
    method = getattr(Model, name, None)
    while method is not None:
        if getattr(method, '_bj_api_sync_capture', False):
            return True
        method = getattr(method, 'origin', None)
    return False


# Each hook is made in a function of its own, so that its ``origin`` is its own (as base_automation does).

def _make_create():
    @api.model_create_multi
    def create(self, vals_list, **kw):
        records = create.origin(self, vals_list, **kw)
        created(records)
        return records
    return create


def _make_write():
    def write(self, vals, **kw):
        before = before_update(self, vals)
        result = write.origin(self, vals, **kw)
        after_update(before)
        return result
    return write


def _make_compute_field_value():
    def _compute_field_value(self, field):
        names = [computed.name for computed in self.pool.field_computed.get(field, [field]) if computed.store]
        before = before_update(self, names) if names else None
        result = _compute_field_value.origin(self, field)
        after_update(before)
        return result
    return _compute_field_value


def _make_unlink():
    def unlink(self, **kw):
        before_delete(self)
        return unlink.origin(self, **kw)
    return unlink


# Commit -----------------------------------------------------------------------------------------

def _echoes(env, outbound, entry):
    """The records of ``entry`` that an inbound endpoint of the same remote system changed: not sent
    back to it, and logged as skipped with the reason (``engine/shared/echo.py``)."""
    by_endpoint = collections.defaultdict(list)
    for record_id, endpoint_id in entry.origins.items():
        by_endpoint[endpoint_id].append(record_id)
    skipped = env[outbound.profile.model]
    for endpoint_id, record_ids in by_endpoint.items():
        scope = echo.suppressing_scope(env, endpoint_id)
        if scope and scope == outbound.profile.remote.scope:
            outbound.outcomes.skipped(record_ids, echo.reason(env, endpoint_id, scope))
            skipped |= skipped.browse(record_ids)
    return skipped


def _prepare(cr):
    """Precommit: plan each config's deliveries from the records' final state and write them as jobs;
    queued ones wake the dispatcher cron, immediate ones are dispatched right after the commit."""
    captured = cr.precommit.data.pop(_CAPTURED, None)
    if captured is None:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    immediate = False
    for (config_id, queued), entry in captured.pending.items():
        if not entry.record_ids:
            continue
        try:
            outbound = captured.outbound(env, entry, config_id)
        except MissingError:
            continue  # the config was deleted in this transaction
        records = env[outbound.profile.model].browse(list(entry.record_ids))
        existing = records.exists()
        # A record gone without a snapshot was created in a savepoint that rolled back: nothing to say.
        kept = set(existing.ids) | set(entry.snapshots)
        records = records.browse([record_id for record_id in entry.record_ids if record_id in kept])
        records -= _echoes(env, outbound, entry)
        if not records:
            continue
        try:
            planned = list(outbound.plan(records, entry.snapshots, existing=existing))
        except Exception as error:  # noqa: BLE001 - a broken config must not block the user's commit
            planned = [Planned(records.ids, error=f"{outbound.profile.label}: {error}")]
        result = outbound.enqueue(planned, wake=queued)
        immediate = immediate or (not queued and bool(result['job_ids']))
    # What planning computed on the way must reach the database with this commit.
    env.flush_all()
    if immediate and not cr.postcommit.data.get(_EAGER):
        cr.postcommit.data[_EAGER] = True
        registry = env.registry
        cr.postcommit.add(lambda: eager.dispatch_soon(registry))
