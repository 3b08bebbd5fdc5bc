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
import logging
import random
import re
import time
import urllib.parse

from psycopg2 import errors as pg_errors

from odoo import SUPERUSER_ID, api, fields

from .outbound import Delivery
from .transport import RetryPolicy

_logger = logging.getLogger(__name__)

DEFAULT_RETRY_SCHEDULE = '1m, 5m, 30m, 2h, 6h, 12h'
RETRY_JITTER = 0.2
RETRY_AFTER_MAX = datetime.timedelta(days=1)
# A lease covers the longest possible attempt (connection + read timeout) plus a margin,
# the system parameter bj_api_sync.lease_margin_seconds (default below).
LEASE_MARGIN_SECONDS = 60
DISPATCH_TIME_BUDGET = 240  # seconds: a cron run stops then and wakes itself for the rest
DEFAULT_RETENTION_DAYS = 30
_UNITS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400}

# The next due job, if any, claimed for this worker. Jobs of a paused or archived
# config are held; a job waits for earlier pending or running jobs of its record.
_CLAIM = """
UPDATE bj_api_sync_job AS job
   SET state = 'running',
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
          AND ((candidate.state = 'pending' AND candidate.next_attempt_at <= now() AT TIME ZONE 'UTC')
               OR (candidate.state = 'running' AND candidate.lease_until < now() AT TIME ZONE 'UTC'))
          AND NOT EXISTS (
              SELECT 1 FROM bj_api_sync_job AS earlier
               WHERE earlier.ordering_key = candidate.ordering_key
                 AND earlier.id < candidate.id
                 AND earlier.state IN ('pending', 'running'))
        ORDER BY candidate.next_attempt_at, candidate.id
        LIMIT 1
          FOR UPDATE OF candidate SKIP LOCKED)
RETURNING job.id
"""

# When the dispatcher must look again: the next retry or lease expiry still ahead.
_NEXT_DUE = """
SELECT MIN(CASE WHEN job.state = 'pending' THEN job.next_attempt_at ELSE job.lease_until END)
  FROM bj_api_sync_job AS job
  JOIN bj_api_sync_config AS config ON config.id = job.config_id
 WHERE config.active AND NOT COALESCE(config.queue_paused, FALSE)
   AND ((job.state = 'pending' AND job.next_attempt_at > now() AT TIME ZONE 'UTC')
        OR job.state = 'running')
"""


def parse_schedule(text):
    """'1m, 5m, 2h' → [60, 300, 7200] seconds; ValueError naming what is wrong."""
    waits = []
    for part in re.split(r'[,\s]+', (text or '').strip()):
        match = re.fullmatch(r'(\d+(?:\.\d+)?)([smhd]?)', part)
        if not match:
            raise ValueError(f"the retry schedule item '{part}' is not a duration such as 30s, 5m, 2h or 1d")
        waits.append(float(match.group(1)) * _UNITS[match.group(2) or 's'])
    return waits


def enqueue(call, planned=None):
    """Store the call's requests as jobs in the current transaction; return the result dict.

    Skips and errors found while preparing are logged at once, as for an immediate call.
    """
    if planned is None:
        planned = call.plan()
    config = call.config
    delivery = call.delivery()
    max_attempts = len(parse_schedule(config.queue_retry_schedule)) + 1
    result = {'success': True, 'queued': True, 'status_code': None, 'response': None,
              'log_ids': delivery.log_ids, 'errors': [], 'requests': [], 'skipped_ids': [], 'job_ids': []}
    job_values = []
    for item in planned:
        if item.skipped:
            delivery.log_skip(item.record_ids, item.skipped)
            result['skipped_ids'].extend(item.record_ids)
        elif item.error:
            log = delivery.log_error(item.record_ids, item.error)
            result['success'] = False
            result['errors'].append(log.error_message)
        else:
            job_values.append({
                'name': delivery.title(item.record_ids),
                'config_id': config.id,
                'http_method': delivery.method,
                'url': without_credentials(item.url),
                'body': item.body.decode() if item.body else False,
                'res_model': delivery.model,
                'res_ids': ','.join(map(str, item.record_ids)),
                'ordering_key': f"{config.id}:{delivery.model}:{item.record_ids[0]}"
                                if len(item.record_ids) == 1 else False,
                'max_attempts': max_attempts,
            })
    if job_values:
        jobs = config.env['bj.api.sync.job'].sudo().create(job_values)
        result['job_ids'] = jobs.ids
        wake_dispatcher(config.env)
    return result


def without_credentials(url):
    """Jobs keep no secret: credentials written in the URL are added back when sending."""
    parts = urllib.parse.urlsplit(url)
    if '@' not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition('@')[2]))


def wake_dispatcher(env, at=None):
    """Have the dispatcher cron run after this transaction commits (or at ``at``)."""
    env.ref('bj_api_sync.ir_cron_dispatch_jobs').sudo()._trigger(at)


def dispatch(registry, time_budget=DISPATCH_TIME_BUDGET):
    """Send due jobs until none is left or the time budget is spent; return how many were sent."""
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
            cr.execute(_NEXT_DUE)
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
                cr.execute(_CLAIM, {'margin': LEASE_MARGIN_SECONDS}, log_exceptions=False)
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
        delivery = Delivery(job.config_id, job.res_model, policy=RetryPolicy(max_retries=0))
        record_ids = [int(record_id) for record_id in (job.res_ids or '').split(',') if record_id]
        try:
            attempt = delivery.send(record_ids, job.url, job.body.encode() if job.body else None,
                                    key=job.idempotency_key, job_id=job.id, attempt_offset=job.attempts - 1)
        except Exception as error:  # noqa: BLE001 - a broken job must not stop the dispatcher
            _logger.exception("BJ API: delivery %s could not be sent", job.id)
            delivery.log_error(record_ids, f"{type(error).__name__}: {error}", job_id=job.id)
            job.write({'state': 'failed', 'last_error': delivery.redactor.text(str(error)), 'lease_until': False})
            return
        _record(job, attempt, delivery.error_of(attempt))


def _record(job, attempt, error):
    # The database's clock, as the claim's now(): a job is due by the same clock it was scheduled with.
    now = job.env.cr.now()
    values = {'lease_until': False, 'last_status_code': attempt.status_code, 'last_error': error}
    if attempt.ok:
        values.update(state='done', done_at=now)
    elif not attempt.retryable:
        values.update(state='failed')
    elif job.attempts >= job.max_attempts:
        values.update(state='dead')
    else:
        next_attempt_at = now + _wait(job, attempt)
        values.update(state='pending', next_attempt_at=next_attempt_at)
        wake_dispatcher(job.env, at=next_attempt_at)
        # The queue will try again: say so in the attempt's log, as immediate calls do.
        job.env['bj.api.log'].browse(attempt.log_id).status = 'retry'
    job.write(values)


def _wait(job, attempt):
    """The schedule's wait after this attempt, jittered; never before the server's Retry-After."""
    schedule = parse_schedule(job.config_id.queue_retry_schedule)
    seconds = schedule[min(job.attempts, len(schedule)) - 1] * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)
    wait = datetime.timedelta(seconds=seconds)
    if attempt.retry_after is not None:
        wait = max(wait, min(datetime.timedelta(seconds=attempt.retry_after), RETRY_AFTER_MAX))
    return wait


def cleanup(env):
    """Remove done jobs and logs older than the retention period; failed and dead jobs
    (and their logs) stay until an operator handles them."""
    days = int(env['ir.config_parameter'].sudo().get_param('bj_api_sync.retention_days', DEFAULT_RETENTION_DAYS))
    limit = fields.Datetime.now() - datetime.timedelta(days=days)
    jobs = env['bj.api.sync.job'].sudo().search([('state', '=', 'done'), ('done_at', '<', limit)])
    logs = env['bj.api.log'].sudo().search([
        ('create_date', '<', limit), '|', ('job_id', '=', False), ('job_id.state', '=', 'done'),
    ])
    counts = (len(jobs), len(logs))
    logs.unlink()
    jobs.unlink()
    _logger.info("BJ API cleanup: %d done deliveries and %d logs older than %d days removed", *counts, days)
    return counts
