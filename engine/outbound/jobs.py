"""The job store: the outbox's rows (``bj.api.sync.job``), their states and every change of state.

A job is the delivery of one planned request, written in the transaction of the change it carries
(a rollback takes it away) and sent after commit by a dispatcher (``engine/outbox/dispatcher.py``).

    pending ──claim──► running ──settle──► done | failed | dead
       ▲                  │  └──settle (retry)──► pending, at its next attempt
       │                  └──lease expired──► claimed again by another dispatcher
       └── retry_now (failed, dead) ── replay (done: a new job) ──

``enqueue`` and the transitions below are the only writers of a job's state; the dispatcher's claim
(SQL, for ``FOR UPDATE SKIP LOCKED``) uses the same state constants. The states of a dispatcher's turn
are written together (``settle``: one UPDATE).
"""
import datetime
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from odoo import fields
from odoo.tools import SQL

from ..shared import logbook, wakeup
from ..shared.payload import to_json_text
from .outcome import DEAD, DONE, FAILED, PENDING, RETRY, RUNNING, UNFINISHED, Verdict
from .profile import parse_schedule

if TYPE_CHECKING:
    from odoo.api import Environment
    from odoo.models import BaseModel

    from .planning import Planned

_logger = logging.getLogger(__name__)

CLAIM_STATES = {'pending': PENDING, 'running': RUNNING, 'unfinished': UNFINISHED}  # the claim SQL's parameters
DEFAULT_RETENTION_DAYS = 30
STALE_STATISTICS_ROWS = 1000  # jobs changed since the table was last analyzed: see dispatcher._refresh_statistics
DISPATCHER_CRON = 'bj_api_sync.ir_cron_dispatch_jobs'
_WOKEN = 'bj_api_sync.dispatcher_woken'


def enqueue(outbound, planned: 'Iterable[Planned]', wake: bool = True) -> dict:
    """Store planned deliveries as jobs in the current transaction; return the result dict.

    A job keeps the record ids, the payload and the values of the URL placeholders:
    no secret and no finished URL. Skips and errors found while planning are
    logged at once, as for an immediate call. ``wake``: wake the dispatcher cron after the commit.
    """
    profile, outcomes = outbound.profile, outbound.outcomes
    result = outbound.result(queued=True, job_ids=[])
    job_values = []
    for item in planned:
        if outbound.settle(item, result):
            continue
        job_values.append({
            'name': outcomes.title(item.record_ids),
            'config_id': profile.config_id,
            'http_method': profile.method,
            'body': to_json_text(item.body),
            'url_values': to_json_text(item.url_values) if item.url_values else False,
            'res_model': profile.model,
            'res_ids': ','.join(map(str, item.record_ids)),
            'ordering_key': f"{profile.remote.ordering}:{profile.model}:{item.record_ids[0]}"
                            if len(item.record_ids) == 1 else False,
            'max_attempts': profile.schedule.max_attempts,
        })
    if job_values:
        env = outcomes.env
        result['job_ids'] = _insert(env, job_values)
        if len(job_values) >= STALE_STATISTICS_ROWS:
            # A batch this large would leave the claims' plans to statistics that do not know it
            # (see _refresh_statistics); the analysis sees these rows and commits with them. Its lock
            # lasts as long as this transaction: skipped, never waited for, when another one holds it.
            env.cr.execute("ANALYZE (SKIP_LOCKED) bj_api_sync_job")
        if wake:
            wake_dispatcher(env)
    return result


# The columns a queued job is written with, and their types (PostgreSQL arrays of them).
_JOB_COLUMNS = {'name': 'varchar', 'config_id': 'int4', 'http_method': 'varchar', 'body': 'text',
                'url_values': 'text', 'res_model': 'varchar', 'res_ids': 'varchar', 'ordering_key': 'varchar',
                'max_attempts': 'int4'}
_ARRAYS = {'varchar': '%s::varchar[]', 'int4': '%s::int4[]', 'text': '%s::text[]'}


def _insert(env, job_values):
    """Write the jobs with one INSERT, whatever their number (the ORM's create splits a batch into
    statements of 100 rows); their ids, in order."""
    columns = SQL(', ').join(SQL.identifier(column) for column in _JOB_COLUMNS)
    arrays = SQL(', ').join(SQL(_ARRAYS[sql_type], [values[column] or None for values in job_values])
                            for column, sql_type in _JOB_COLUMNS.items())
    env.cr.execute(SQL("""
        INSERT INTO bj_api_sync_job (%(columns)s, state, idempotency_key, attempts, next_attempt_at,
                                     create_uid, create_date, write_uid, write_date)
        SELECT %(columns)s, %(state)s, gen_random_uuid()::varchar, 0, now() AT TIME ZONE 'UTC',
               %(uid)s, now() AT TIME ZONE 'UTC', %(uid)s, now() AT TIME ZONE 'UTC'
          FROM unnest(%(arrays)s) WITH ORDINALITY AS job(%(columns)s, position)
         ORDER BY position
        RETURNING id""", columns=columns, arrays=arrays, state=PENDING, uid=env.uid))
    return sorted(job_id for (job_id,) in env.cr.fetchall())


def wake_dispatcher(env: 'Environment', at: datetime.datetime | None = None) -> None:
    """Have the dispatcher cron run after this transaction commits (or at ``at``).

    Woken once per transaction: a thousand deliveries queued together write one trigger. Woken now, it
    costs one INSERT (``engine/wakeup.py``), since every queued change pays for it."""
    if at is not None:
        env.ref(DISPATCHER_CRON).sudo()._trigger(at)
        return
    if env.cr.precommit.data.get(_WOKEN):
        return
    env.cr.precommit.data[_WOKEN] = True
    wakeup.trigger_now(env, DISPATCHER_CRON)


def settle(env: 'Environment', verdicts: 'Iterable[tuple[int, Verdict, int]]', now: datetime.datetime) -> None:
    """The state of each job after the verdict on its attempt, for (job id, verdict, attempts allowed):
    one UPDATE for all (``now``: the database's clock, as the claim's)."""
    columns = {'id': [], 'state': [], 'next_attempt_at': [], 'done_at': [], 'last_status_code': [],
               'last_error': [], 'max_attempts': []}
    for job_id, verdict, max_attempts in verdicts:
        attempt, retry = verdict.attempt, verdict.state == RETRY
        columns['id'].append(job_id)
        columns['state'].append(PENDING if retry else verdict.state)
        columns['next_attempt_at'].append(now + datetime.timedelta(seconds=verdict.wait) if retry else None)
        columns['done_at'].append(now if verdict.state == DONE else None)
        columns['last_status_code'].append(attempt.status_code if attempt else None)
        # A NUL character (an answer quoted in the error) cannot be stored in text.
        columns['last_error'].append(verdict.error.replace('\x00', '\ufffd') if verdict.error else None)
        columns['max_attempts'].append(max_attempts)
    if not columns['id']:
        return
    types = ('int4', 'varchar', 'timestamp', 'timestamp', 'int4', 'text', 'int4')
    env.cr.execute(SQL("""
        UPDATE bj_api_sync_job AS job
           SET state = verdict.state, lease_until = NULL,
               next_attempt_at = COALESCE(verdict.next_attempt_at, job.next_attempt_at),
               done_at = COALESCE(verdict.done_at, job.done_at),
               last_status_code = verdict.last_status_code, last_error = verdict.last_error,
               max_attempts = verdict.max_attempts, write_uid = %(uid)s, write_date = now() AT TIME ZONE 'UTC'
          FROM unnest(%(arrays)s) AS verdict(%(names)s)
         WHERE job.id = verdict.id""",
        arrays=SQL(', ').join(SQL(f'%s::{sql_type}[]', values) for sql_type, values in zip(types, columns.values(),
                                                                                       strict=True)),
        names=SQL(', ').join(map(SQL.identifier, columns)), uid=env.uid))
    env['bj.api.sync.job'].invalidate_model(['state', 'lease_until', 'next_attempt_at', 'done_at', 'last_status_code',
                                            'last_error', 'max_attempts', 'write_uid', 'write_date'])


def retry_now(jobs: 'BaseModel', env: 'Environment') -> bool:
    """Failed or dead ``jobs`` get a fresh series of attempts, starting now; False if none can."""
    jobs = jobs.filtered(lambda job: job.state in (FAILED, DEAD))
    for job in jobs:
        job.write({'state': PENDING, 'attempts': 0, 'next_attempt_at': env.cr.now(), 'last_error': False,
                   'max_attempts': len(parse_schedule(job.config_id.queue_retry_schedule)) + 1})
    if jobs:
        wake_dispatcher(env)
    return bool(jobs)


def replay(jobs: 'BaseModel', env: 'Environment') -> 'BaseModel':
    """Done ``jobs`` are sent again, each as a new job with its own idempotency key; the new jobs."""
    replays = jobs.browse()
    for job in jobs.filtered(lambda job: job.state == DONE):
        replays |= job.copy({'replay_of_id': job.id, 'name': env._("Replay of %s", job.name)})
    if replays:
        wake_dispatcher(env)
    return replays


def cleanup(env: 'Environment') -> tuple[int, int]:
    """Remove done jobs and logs older than the retention period; failed and dead jobs
    (and their logs) stay until an operator handles them. The log rows that processes which died left
    in their journals are written first (``engine/shared/logbook.py``)."""
    logbook.recover(env.registry)
    days = int(env['ir.config_parameter'].sudo().get_param('bj_api_sync.retention_days', DEFAULT_RETENTION_DAYS))
    limit = fields.Datetime.now() - datetime.timedelta(days=days)
    jobs = env['bj.api.sync.job'].sudo().search([('state', '=', DONE), ('done_at', '<', limit)])
    logs = env['bj.api.log'].sudo().search([
        ('create_date', '<', limit), '|', ('job_id', '=', False), ('job_id.state', '=', DONE),
    ])
    counts = (len(jobs), len(logs))
    logs.unlink()
    jobs.unlink()
    _logger.info("BJ API cleanup: %d done deliveries and %d logs older than %d days removed", *counts, days)
    return counts
