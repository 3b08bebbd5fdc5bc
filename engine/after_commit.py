"""Automation-rule calls: one delivery per record per transaction, at commit.

An "On save" rule runs several times inside one operation (11 times for one
``res.partner`` create). Each run only records the call; just before commit the
pending records are planned once, from their final state. Immediate calls are
sent right after the commit succeeds; queued calls become outbox jobs in the
committing transaction itself. Nothing is sent for a transaction that rolls
back, and a network failure cannot undo the user's change.

A payload snapshot is taken at every run, so a record deleted later in the
same transaction is still sent, with the payload it had while it existed. The
config is read and its mapping compiled once per transaction, for all the
runs and the final planning.
"""
import dataclasses
import logging

from odoo import SUPERUSER_ID, api

from .outbound import Outbound
from .planning import Planned
from .remote import written_back

_logger = logging.getLogger(__name__)
_PENDING = 'bj_api_sync.pending'


@dataclasses.dataclass
class _Pending:
    """One config's calls in this transaction: the records (in order), their snapshots, its front door."""
    record_ids: dict = dataclasses.field(default_factory=dict)
    snapshots: dict = dataclasses.field(default_factory=dict)
    outbound: Outbound = None


def enqueue(config, records, queued=False):
    """Remember ``records`` for delivery through ``config`` (a superuser record) when the transaction commits."""
    cr = config.env.cr
    pending = cr.precommit.data.get(_PENDING)
    if pending is None:
        pending = cr.precommit.data[_PENDING] = {}
        cr.precommit.add(lambda: _prepare(api.Environment(cr, SUPERUSER_ID, {}), pending))
    # Response values written back to a record never send it again.
    skip = written_back(config.env)
    if skip:
        records = records.filtered(lambda record: (record._name, record.id) not in skip)
    entry = pending.setdefault((config.id, queued), _Pending())
    entry.record_ids.update(dict.fromkeys(records.ids))
    try:
        entry.outbound = entry.outbound or Outbound(config)
        entry.snapshots.update(entry.outbound.planner.snapshot(records))
    except Exception:  # noqa: BLE001 - best effort: the same error is reported when the records are planned
        _logger.debug("%s: no snapshot of %s", config.name, records, exc_info=True)


def _prepare(env, pending):
    """Precommit: plan each config's requests from the records' final state."""
    immediate = []
    for (config_id, queued), entry in pending.items():
        config = env['bj.api.sync.config'].with_context(active_test=False).browse(config_id)
        if not config.exists():
            continue
        record_ids = list(entry.record_ids)
        outbound = entry.outbound or Outbound(config)
        records = env[config.model_name].browse(record_ids)
        try:
            # Built now, inside the transaction; sent after it commits.
            planned = list(outbound.plan(records, entry.snapshots))
        except Exception as error:  # noqa: BLE001 - a broken config must not block the user's commit
            planned = [Planned(record_ids, error=f"{outbound.profile.label}: {error}")]
        if queued:
            outbound.enqueue(planned)
        else:
            immediate.append((config_id, planned))
    # What planning computed on the way must reach the database with this commit.
    env.flush_all()
    if immediate:
        registry = env.registry
        env.cr.postcommit.add(lambda: _deliver(registry, immediate))


def _deliver(registry, immediate):
    """Postcommit: send and log in a transaction of its own; never raise into the user's request."""
    for config_id, planned in immediate:
        try:
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                Outbound(env['bj.api.sync.config'].with_context(active_test=False).browse(config_id)).deliver(planned)
        except Exception:
            _logger.exception("BJ API config %s: delivery after commit failed", config_id)
