"""Endpoint health and flow control, per config, shared by every dispatcher.

One ``bj_api_sync_health`` row per config holds what all dispatchers of all Odoo
processes and servers must agree on:

* the rate limit's next free slot (``rate_limit`` requests per second);
* a hold until a server's ``Retry-After`` (429 or 503) has passed;
* the circuit breaker: *closed*, or *open* after ``failure_threshold`` failed
  attempts in a row, when deliveries wait and one probe goes out after a
  cool-down (30 s, doubling up to an hour); the probe's success closes it.

Dispatchers change the row only under its lock (``SELECT … FOR UPDATE`` in a
read-committed transaction), in claim order of config id, so they never wait on
each other for long nor deadlock. A *quiet* row (no limit, breaker closed, no
failure) is only read: a success would change nothing in it. The decisions
themselves are the plain functions below; ``engine/outbox/dispatcher.py`` calls them.
"""
import dataclasses
import datetime
import math
from collections.abc import Collection
from typing import TYPE_CHECKING

from ..outbound.outcome import DEAD, DONE, RETRY, Verdict

if TYPE_CHECKING:
    from odoo.sql_db import BaseCursor

CLOSED = 'closed'
OPEN = 'open'
PAUSED = 'paused'  # shown for a config whose queue is paused (bj.api.sync.config.queue_paused)

FIRST_COOLDOWN = 30    # seconds an open breaker waits before its first probe
MAX_COOLDOWN = 3600    # the cool-down doubles after each failed probe, up to this
CLAIM_HORIZON = 1.0    # seconds of rate-limit slots a dispatcher may reserve ahead of sending

# What an attempt tells about its endpoint.
ALIVE = 'alive'        # it answered (success, or a refusal of this request): the endpoint works
FAILING = 'failing'    # no answer, a timeout, or a server error worth retrying
GONE = 'gone'          # 410 Gone: the endpoint was removed on purpose
HOLD_STATUS = (429, 503)


@dataclasses.dataclass
class Health:
    """One config's health row, with the config's limits and what is in flight."""
    config_id: int
    rate_limit: float
    max_concurrency: int
    failure_threshold: int
    auto_pause_hours: int
    state: str
    consecutive_failures: int
    failing_since: datetime.datetime | None
    cooldown: int
    next_probe_at: datetime.datetime | None
    probe_job_id: int | None   # the last probe sent while open
    probe_running: bool        # ... and it is still in flight
    held_until: datetime.datetime | None
    next_slot_at: datetime.datetime | None
    running: int

    def quiet(self, now: datetime.datetime) -> bool:
        """No limit to share, nothing wrong: dispatchers may claim and learn without its lock (a
        success changes nothing here), so they do not queue behind each other on a healthy endpoint."""
        return (not self.rate_limit and not self.max_concurrency and self.state == CLOSED
                and not self.consecutive_failures and not (self.held_until and self.held_until > now))

    def allowance(self, wanted: int, now: datetime.datetime) -> tuple[int, bool]:
        """How many deliveries a dispatcher may claim now (at most ``wanted``), and whether they are a probe."""
        if self.held_until and self.held_until > now:
            return 0, False
        probe = self.state == OPEN
        if probe:
            if self.probe_running or (self.next_probe_at and self.next_probe_at > now):
                return 0, False
            wanted = 1
        if self.max_concurrency:
            wanted = min(wanted, self.max_concurrency - self.running)
        if self.rate_limit and wanted > 0:
            start = max(self.next_slot_at or now, now)
            ahead = (now - start).total_seconds() + CLAIM_HORIZON
            wanted = min(wanted, math.ceil(ahead * self.rate_limit)) if ahead > 0 else 0
        return max(wanted, 0), probe

    def reserve(self, count: int, now: datetime.datetime) -> list[float]:
        """Reserve ``count`` rate-limit slots: the seconds each delivery waits before it is sent."""
        if not self.rate_limit:
            return [0.0] * count
        interval = 1.0 / self.rate_limit
        start = max(self.next_slot_at or now, now)
        self.next_slot_at = start + datetime.timedelta(seconds=interval * count)
        offset = (start - now).total_seconds()
        return [offset + interval * number for number in range(count)]

    def learn(self, signal: str | None, now: datetime.datetime, job_id: int,
              hold_seconds: float | None = None) -> bool:
        """Update the breaker after the attempt of delivery ``job_id`` gave ``signal`` (ALIVE, FAILING or
        GONE; None when it tells nothing) and maybe a ``Retry-After`` hold; True when the config must
        now be paused."""
        if hold_seconds:
            self.held_until = max(self.held_until or now, now + datetime.timedelta(seconds=hold_seconds))
        if signal == ALIVE:
            self.state, self.consecutive_failures, self.failing_since = CLOSED, 0, None
            self.cooldown, self.next_probe_at, self.probe_job_id, self.probe_running = 0, None, None, False
            return False
        if signal == GONE:
            return True
        if signal != FAILING:
            return False
        self.consecutive_failures += 1
        self.failing_since = self.failing_since or now
        if self.state == OPEN:
            if job_id == self.probe_job_id:
                # The probe failed: wait twice as long before the next one.
                self.cooldown = min(MAX_COOLDOWN, max(FIRST_COOLDOWN, self.cooldown * 2))
                self.next_probe_at = now + datetime.timedelta(seconds=self.cooldown)
                self.probe_job_id, self.probe_running = None, False
        elif self.failure_threshold and self.consecutive_failures >= self.failure_threshold:
            self.state, self.cooldown = OPEN, FIRST_COOLDOWN
            self.next_probe_at = now + datetime.timedelta(seconds=FIRST_COOLDOWN)
        return bool(self.auto_pause_hours) and \
            now - self.failing_since >= datetime.timedelta(hours=self.auto_pause_hours)


def signal(verdict: Verdict) -> tuple[str | None, float | None]:
    """What ``verdict`` (engine/outbound/outcome.py) tells about the endpoint, and the Retry-After hold it asks for."""
    attempt = verdict.attempt
    if attempt is None:
        # Not sent: an unreachable token endpoint (retried) is the API failing; a request that could
        # not be built (refused for good) tells nothing about it.
        return (FAILING if verdict.state in (RETRY, DEAD) else None), None
    if verdict.state == DONE:
        return ALIVE, None
    hold = attempt.retry_after if attempt.status_code in HOLD_STATUS else None
    if attempt.status_code == 410:
        return GONE, hold
    if attempt.retryable:
        return FAILING, hold
    return ALIVE, hold


# The health of some configs, with their limits and what is in flight.
SELECT = """
SELECT config.id, COALESCE(config.rate_limit, 0), COALESCE(config.max_concurrency, 0),
       COALESCE(config.failure_threshold, 0), COALESCE(config.auto_pause_hours, 0),
       health.state, health.consecutive_failures, health.failing_since, health.cooldown,
       health.next_probe_at,
       health.probe_job_id,
       EXISTS (SELECT 1 FROM bj_api_sync_job AS probe
                WHERE probe.id = health.probe_job_id AND probe.state = %(running)s
                  AND probe.lease_until >= now() AT TIME ZONE 'UTC'),
       health.held_until, health.next_slot_at,
       -- Counted only where a limit needs it: the count walks the versions of every job sent lately.
       CASE WHEN COALESCE(config.max_concurrency, 0) > 0 THEN
           (SELECT COUNT(*) FROM bj_api_sync_job AS job
             WHERE job.config_id = config.id AND job.state = %(running)s
               AND job.lease_until >= now() AT TIME ZONE 'UTC') ELSE 0 END
  FROM bj_api_sync_config AS config
  JOIN bj_api_sync_health AS health ON health.config_id = config.id
 WHERE config.id IN %(config_ids)s
 ORDER BY config.id
"""
LOCK = SELECT + "   FOR UPDATE OF health"

CREATE = """
INSERT INTO bj_api_sync_health (config_id, state, consecutive_failures, cooldown, create_date, write_date)
SELECT id, %(state)s, 0, 0, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
  FROM bj_api_sync_config WHERE id IN %(config_ids)s
    ON CONFLICT (config_id) DO NOTHING
"""

SAVE = """
UPDATE bj_api_sync_health
   SET state = %(state)s, consecutive_failures = %(consecutive_failures)s, failing_since = %(failing_since)s,
       cooldown = %(cooldown)s, next_probe_at = %(next_probe_at)s, held_until = %(held_until)s,
       next_slot_at = %(next_slot_at)s, probe_job_id = %(probe_job_id)s,
       write_date = now() AT TIME ZONE 'UTC'
 WHERE config_id = %(config_id)s
"""


def load(cr: 'BaseCursor', config_ids: Collection[int], states: dict[str, object], now: datetime.datetime,
         troubled: Collection[int] = ()) -> tuple[dict[int, Health], set[int]]:
    """The health of ``config_ids``: {config_id: Health}, and the ids of those locked until the
    transaction ends: every one but the quiet ones with nothing ``troubled`` (an attempt that did not
    go well) to learn. Locks are taken in config id order, so dispatchers never deadlock."""
    if not config_ids:
        return {}, set()
    healths = _select(cr, SELECT, config_ids, states)
    to_lock = {config_id for config_id in config_ids
               if config_id not in healths or config_id in troubled or not healths[config_id].quiet(now)}
    locked = lock(cr, to_lock, states)
    healths.update(locked)
    return healths, set(locked)


def lock(cr: 'BaseCursor', config_ids: Collection[int], states: dict[str, object],
         wait: bool = True) -> dict[int, Health]:
    """The health of ``config_ids``, locked until the transaction ends: {config_id: Health}. A config
    gets its row the first time a dispatcher needs it. Without ``wait``, rows another transaction
    holds are left out (a lock taken late, out of order, must not wait)."""
    if not config_ids:
        return {}
    query = LOCK if wait else LOCK + " SKIP LOCKED"
    healths = _select(cr, query, config_ids, states)
    if wait and len(healths) < len(config_ids):
        # Another dispatcher may be creating the same row: ON CONFLICT waits for it, then both read it.
        cr.execute(CREATE, {'config_ids': tuple(sorted(config_ids)), 'state': CLOSED})
        healths = _select(cr, query, config_ids, states)
    return healths


def _select(cr, query, config_ids, states):
    cr.execute(query, {**states, 'config_ids': tuple(sorted(config_ids))})
    return {row[0]: Health(*row) for row in cr.fetchall()}


def save(cr: 'BaseCursor', health: Health) -> None:
    cr.execute(SAVE, dataclasses.asdict(health))


# Inbound endpoints: the generic cell rate algorithm, on the config's health row. ``next_slot_at`` is
# the theoretical arrival time of the next request; a burst of one second's worth is let through.
ADMIT = """
INSERT INTO bj_api_sync_health AS health (config_id, state, consecutive_failures, cooldown, next_slot_at,
                                          create_date, write_date)
SELECT %(config_id)s, %(state)s, 0, 0, moment + %(interval)s, moment, moment
  FROM (SELECT clock_timestamp() AT TIME ZONE 'UTC' AS moment) AS clock
    ON CONFLICT (config_id) DO UPDATE
   SET next_slot_at = GREATEST(health.next_slot_at, EXCLUDED.write_date) + %(interval)s,
       write_date = EXCLUDED.write_date
 WHERE health.next_slot_at IS NULL OR health.next_slot_at <= EXCLUDED.write_date + %(tolerance)s
RETURNING health.id
"""

WAIT = """
SELECT EXTRACT(EPOCH FROM next_slot_at - (clock_timestamp() AT TIME ZONE 'UTC')) - %(tolerance)s
  FROM bj_api_sync_health WHERE config_id = %(config_id)s
"""


def admit_inbound(cr: 'BaseCursor', config_id: int, rate: float) -> int | None:
    """Take a slot of an inbound endpoint's ``rate`` (requests per second): None when the request may
    be served, else the whole seconds (at least 1) to wait before trying again. ``cr``: a short
    transaction of its own, committed at once, so requests do not queue behind each other's."""
    interval = 1.0 / rate
    burst = max(1, math.floor(rate))
    params = {'config_id': config_id, 'state': CLOSED, 'interval': datetime.timedelta(seconds=interval),
              'tolerance': datetime.timedelta(seconds=(burst - 1) * interval)}
    cr.execute(ADMIT, params)
    if cr.fetchone():
        return None
    cr.execute(WAIT, {'config_id': config_id, 'tolerance': (burst - 1) * interval})
    (wait,) = cr.fetchone()
    return max(1, math.ceil(wait))
