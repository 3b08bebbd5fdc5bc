"""The outbox: deliveries stored with the change, sent after commit by dispatchers.

* ``enqueue`` writes one ``bj.api.sync.job`` per planned request in the caller's
  transaction (a rollback takes the jobs with it) and wakes the dispatcher cron.
* ``dispatch`` claims due jobs one at a time with ``FOR UPDATE SKIP LOCKED`` in
  a short transaction of its own, so any number of workers can dispatch in
  parallel without sending a job twice. A claimed job is leased: if its worker
  dies, another one takes it over once the lease expires.
* Each job is sent, and its outcome recorded, in its own transaction: one
  failing job never blocks the others. Jobs of one record go out in order.
"""
import datetime
import json
import logging
import time

from psycopg2 import errors as pg_errors

from odoo import SUPERUSER_ID, api, fields

from . import cron, outbound as front_door
from .outcome import DONE, FAILED, PENDING, RETRY, RUNNING, UNFINISHED, Verdict
from .payload import to_json_text
from .planning import Planned

_logger = logging.getLogger(__name__)

# A lease covers the longest possible attempt (connection + read timeout) plus a margin,
# the system parameter bj_api_sync.lease_margin_seconds (default below).
LEASE_MARGIN_SECONDS = 60
DEFAULT_RETENTION_DAYS = 30
_WOKEN = 'bj_api_sync.dispatcher_woken'
_STATES = {'pending': PENDING, 'running': RUNNING, 'unfinished': UNFINISHED}

# The next due job, if any, claimed for this worker. Jobs of a paused or archived
# config are held; a job waits for earlier pending or running jobs of its record.
_CLAIM = """
UPDATE bj_api_sync_job AS job
   SET state = %(running)s,
       attempts = COALESCE(job.attempts, 0) + 1,
       lease_until = now() AT TIME ZONE 'UTC' + make_interval(secs =>
           config.connection_timeout + config.read_timeout + COALESCE(
               (SELECT value::numeric FROM ir_config_parameter WHERE key = 'bj_api_sync.lease_margin_seconds'),
               %(margin)s)),
       write_date = now() AT TIME ZONE 'UTC'
  FROM bj_api_sync_config AS config
 WHERE config.id = job.config_id
   AND job.id = (
       SELECT candidate.id
         FROM bj_api_sync_job AS candidate
         JOIN bj_api_sync_config AS candidate_config ON candidate_config.id = candidate.config_id
        WHERE candidate_config.active AND NOT COALESCE(candidate_config.queue_paused, FALSE)
          AND ((candidate.state = %(pending)s AND candidate.next_attempt_at <= now() AT TIME ZONE 'UTC')
               OR (candidate.state = %(running)s AND candidate.lease_until < now() AT TIME ZONE 'UTC'))
          AND NOT EXISTS (
              SELECT 1 FROM bj_api_sync_job AS earlier
               WHERE earlier.ordering_key = candidate.ordering_key
                 AND earlier.id < candidate.id
                 AND earlier.state IN %(unfinished)s)
        ORDER BY candidate.next_attempt_at, candidate.id
        LIMIT 1
          FOR UPDATE OF candidate SKIP LOCKED)
RETURNING job.id
"""

# When the dispatcher must look again: the next retry or lease expiry still ahead.
_NEXT_DUE = """
SELECT MIN(CASE WHEN job.state = %(pending)s THEN job.next_attempt_at ELSE job.lease_until END)
  FROM bj_api_sync_job AS job
  JOIN bj_api_sync_config AS config ON config.id = job.config_id
 WHERE config.active AND NOT COALESCE(config.queue_paused, FALSE)
   AND ((job.state = %(pending)s AND job.next_attempt_at > now() AT TIME ZONE 'UTC')
        OR job.state = %(running)s)
"""


def enqueue(outbound, planned):
    """Store planned deliveries as jobs in the current transaction; return the result dict.

    A job keeps the record ids, the payload and the values of the URL placeholders:
    no secret and no finished URL. Skips and errors found while planning are
    logged at once, as for an immediate call.
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
            'ordering_key': f"{profile.config_id}:{profile.model}:{item.record_ids[0]}"
                            if len(item.record_ids) == 1 else False,
            'max_attempts': profile.schedule.max_attempts,
        })
    if job_values:
        env = outcomes.env
        jobs = env['bj.api.sync.job'].sudo().create(job_values)
        result['job_ids'] = jobs.ids
        wake_dispatcher(env)
    return result


def wake_dispatcher(env, at=None):
    """Have the dispatcher cron run after this transaction commits (or at ``at``).

    Woken once per transaction: a thousand deliveries queued together write one trigger."""
    if at is None:
        if env.cr.precommit.data.get(_WOKEN):
            return
        env.cr.precommit.data[_WOKEN] = True
    env.ref('bj_api_sync.ir_cron_dispatch_jobs').sudo()._trigger(at)


def run_budget(registry):
    """How long one dispatcher run may claim jobs, in seconds (``engine/cron.py``): the longest
    request in flight is that of the slowest config with jobs waiting."""
    with registry.cursor() as cr:
        cr.execute("""SELECT MAX(connection_timeout + read_timeout) FROM bj_api_sync_config AS config
                       WHERE EXISTS (SELECT 1 FROM bj_api_sync_job AS job
                                      WHERE job.config_id = config.id AND job.state = %s)""", [PENDING])
        longest_request = cr.fetchone()[0] or 0
    return cron.time_budget(longest_request)


def dispatch(registry, time_budget=cron.UNLIMITED_BUDGET):
    """Send due jobs until none is left or the time budget is spent; return how many were sent.
    When the budget ran out first, the dispatcher is woken again for the rest."""
    deadline = time.monotonic() + time_budget
    sent = 0
    job_id = None
    while time.monotonic() < deadline:
        job_id = _claim(registry)
        if job_id is None or job_id is _CONTENDED:
            break
        _send(registry, job_id)
        sent += 1
    with registry.cursor() as cr:
        if job_id is None:
            cr.execute(_NEXT_DUE, _STATES)
            next_due = cr.fetchone()[0]
            if next_due:
                wake_dispatcher(api.Environment(cr, SUPERUSER_ID, {}), at=next_due)
        else:
            wake_dispatcher(api.Environment(cr, SUPERUSER_ID, {}))
    return sent


_CONTENDED = object()  # _claim lost every race: jobs may be due, look again soon


def _claim(registry):
    """Claim the next due job in a transaction of its own: its id, None when none is due,
    or _CONTENDED when other dispatchers won every try."""
    for _retry in range(5):
        try:
            with registry.cursor() as cr:
                # Read committed, not Odoo's repeatable read: a job another dispatcher claimed
                # since this statement began is rechecked and passed over (the next one is
                # locked) instead of failing the transaction, so parallel dispatchers scale.
                # (Test cursors are savepoints in the test's transaction: nothing to set there.)
                if not registry.in_test_mode():
                    cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
                # A lost race is expected here, not worth Odoo's "bad query" error log.
                cr.execute(_CLAIM, {**_STATES, 'margin': LEASE_MARGIN_SECONDS}, log_exceptions=False)
                row = cr.fetchone()
                return row[0] if row else None
        except (pg_errors.SerializationFailure, pg_errors.LockNotAvailable):
            # Another dispatcher changed the row after this transaction began: try the next one.
            continue
    return _CONTENDED


def _send(registry, job_id):
    """Send one claimed job and record the outcome, in a transaction of its own."""
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        job = env['bj.api.sync.job'].browse(job_id)
        outbound = front_door.Outbound(job.config_id.with_context(active_test=False))
        item = Planned(job.record_ids(), body=json.loads(job.body) if job.body else None,
                       url_values=json.loads(job.url_values) if job.url_values else {})
        try:
            verdict = outbound.send(item, job.idempotency_key, outbound.profile.schedule,
                                    job_id=job.id, number=job.attempts)
        except Exception as error:  # noqa: BLE001 - a broken job must not stop the dispatcher
            _logger.exception("BJ API: delivery %s could not be sent", job.id)
            log = outbound.outcomes.refused(item.record_ids, f"{type(error).__name__}: {error}",
                                            job_id=job.id, number=job.attempts)
            verdict = Verdict(FAILED, job.attempts, error=log.error_message, log_id=log.id)
        _record(job, verdict, outbound.profile.schedule.max_attempts)


def _record(job, verdict, max_attempts):
    """The job's state after the verdict on its attempt."""
    attempt = verdict.attempt
    values = {'lease_until': False, 'last_status_code': attempt.status_code if attempt else False,
              'last_error': verdict.error, 'max_attempts': max_attempts}
    # The database's clock, as the claim's now(): a job is due by the same clock it was scheduled with.
    now = job.env.cr.now()
    if verdict.state == RETRY:
        next_attempt_at = now + datetime.timedelta(seconds=verdict.wait)
        values.update(state=PENDING, next_attempt_at=next_attempt_at)
        wake_dispatcher(job.env, at=next_attempt_at)
    else:
        values['state'] = verdict.state
        if verdict.state == DONE:
            values['done_at'] = now
    job.write(values)


def cleanup(env):
    """Remove done jobs and logs older than the retention period; failed and dead jobs
    (and their logs) stay until an operator handles them."""
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
