"""The outbox: deliveries stored with the change, sent after commit by dispatchers.

* ``enqueue`` writes one ``bj.api.sync.job`` per planned request in the caller's
  transaction (a rollback takes the jobs with it) and wakes the dispatcher cron.
* ``dispatch`` keeps several deliveries in flight (``bj_api_sync.dispatch_concurrency``,
  default 8): it claims due jobs in batches with ``FOR UPDATE SKIP LOCKED``, in
  short transactions of its own, finishes their requests, sends them from a
  thread pool and records the outcomes of those that came back together. Any
  number of dispatchers can run in parallel without sending a job twice: a
  claimed job is leased, and if its worker dies another one takes it over once
  the lease expires. Jobs of one record go out one at a time, in order.
* Each claim respects the config's flow control and health (``engine/outbox/health.py``):
  rate limit, concurrency, ``Retry-After`` holds and the circuit breaker.
* A run does not slow down while an old snapshot keeps the rows it changed from being cleaned up (Odoo
  keeps its cron transaction open for the whole run; a backup or a long report does the same): the
  versions of the jobs it claimed stay in the indexes, so each config's claims start after the last job
  it claimed (a full claim, from the first due job, at most every SWEEP_EVERY seconds or when nothing
  comes after), and the configs with due jobs are looked up again only when a claim comes up short, or
  every SWEEP_EVERY seconds.
* A turn costs a few statements whatever its number of deliveries: the claims return what the
  requests need, the log rows are one INSERT and the jobs' states one UPDATE. No savepoint guards
  each delivery: a turn in which one breaks is rolled back and done again, one delivery at a time
  in savepoints, the broken one concluded as failed.
"""
import collections
import concurrent.futures
import dataclasses
import datetime
import json
import logging
import time
from typing import TYPE_CHECKING

from psycopg2.extensions import ISOLATION_LEVEL_READ_COMMITTED

from odoo import SUPERUSER_ID, api, sql_db

from ..outbound import front_door, jobs
from ..outbound.outcome import DONE, FAILED, PENDING, Verdict
from ..outbound.planning import Planned
from ..outbound.request import RequestError
from ..shared import logbook, transport
from ..shared.auth import AuthError
from . import budget as cron
from . import health

if TYPE_CHECKING:
    from odoo.modules.registry import Registry

_logger = logging.getLogger(__name__)

# A lease covers the longest possible attempt (connection + read timeout) and the wait for a
# rate-limit slot, plus a margin: the system parameter bj_api_sync.lease_margin_seconds.
LEASE_MARGIN_SECONDS = 60
DEFAULT_CONCURRENCY = 8
GATHER = 0.005       # seconds a dispatcher waits for the other requests in flight once one came back
MAX_SLOT_WAIT = 2.0  # seconds a dispatcher with nothing in flight waits for a rate-limit slot, not ending its run
# Seconds between full claims of a config (from its first due job) and between lookups of the configs with
# due jobs, while each claim gets all it asks for (see the module's docstring).
SWEEP_EVERY = 1.0
# Seconds after a run that sent something before the dispatcher looks once more: when a run ends, Odoo
# deletes the cron's triggers written before it started, among them those of deliveries committed
# after the run's last claim.
LOOK_AGAIN = 1.0

# The statements of a turn find jobs by walking partial indexes in order and stopping at a limit:
# bj_api_sync_job_config_due_index for a config's due jobs, bj_api_sync_job_order_index for the first
# unfinished job of a record. The planner's statistics of the job table are often those of another
# moment of the queue (a batch drained since, or one just queued), and with them it would rather sort
# all due jobs and probe each one's order through an index of every unfinished job (dead entries
# included): a claim of 8 among 200 jobs took 800 ms instead of 1. So the dispatcher's cursor plans
# without sorts where an index gives the order (see _session()).

# Configs that may send, in the order their first job became due, and whether some job of theirs
# has an expired lease (its worker is presumed dead).
_DUE_CONFIGS = """
SELECT due.config_id, due.expired FROM (
       SELECT config.id AS config_id,
              (SELECT job.next_attempt_at FROM bj_api_sync_job AS job
                WHERE job.config_id = config.id AND job.state = %(pending)s
                  AND job.next_attempt_at <= now() AT TIME ZONE 'UTC'
                ORDER BY job.next_attempt_at, job.id LIMIT 1) AS first_due,
              EXISTS (SELECT 1 FROM bj_api_sync_job AS job
                       WHERE job.config_id = config.id AND job.state = %(running)s
                         AND job.lease_until < now() AT TIME ZONE 'UTC') AS expired
         FROM bj_api_sync_config AS config
        WHERE config.active AND NOT COALESCE(config.queue_paused, FALSE)) AS due
 WHERE due.first_due IS NOT NULL OR due.expired
 ORDER BY due.first_due NULLS FIRST, due.config_id
"""

# Up to %(limit)s jobs of one config, claimed for this worker: first those whose lease expired
# (their worker is presumed dead), then due ones in the order they became due (after the last one this
# run claimed, or from the first). A job waits for
# earlier pending or running jobs of its record: it must be the first unfinished one of its key.
# The candidates are locked in a CTE, run once: as a subquery of the UPDATE, the planner may run it
# again for each row, and each run skips the rows the UPDATE already changed and locks the next ones.
_CLAIM = """
WITH claimed AS MATERIALIZED (
       SELECT candidate.id
         FROM bj_api_sync_job AS candidate
        WHERE candidate.config_id = %(config_id)s AND {claimable}
          AND (candidate.ordering_key IS NULL OR candidate.id = (
              SELECT first.id FROM bj_api_sync_job AS first
               WHERE first.ordering_key = candidate.ordering_key AND first.state IN %(unfinished)s
               ORDER BY first.ordering_key, first.id LIMIT 1))
        ORDER BY {order}
        LIMIT %(limit)s
          FOR UPDATE OF candidate SKIP LOCKED)
UPDATE bj_api_sync_job AS job
   SET state = %(running)s,
       attempts = COALESCE(job.attempts, 0) + 1,
       lease_until = now() AT TIME ZONE 'UTC' + make_interval(secs =>
           config.connection_timeout + config.read_timeout + %(slot_wait)s + COALESCE(
               (SELECT value::numeric FROM ir_config_parameter WHERE key = 'bj_api_sync.lease_margin_seconds'),
               %(margin)s)),
       write_date = now() AT TIME ZONE 'UTC'
  FROM claimed, bj_api_sync_config AS config
 WHERE job.id = claimed.id AND config.id = job.config_id
   AND config.active AND NOT COALESCE(config.queue_paused, FALSE)
RETURNING job.id, job.res_ids, job.body, job.url_values, job.idempotency_key, job.attempts,
          job.next_attempt_at
"""
_DUE = "candidate.state = %(pending)s AND candidate.next_attempt_at <= now() AT TIME ZONE 'UTC'"
_ORDER = "candidate.next_attempt_at, candidate.id"
# Finds the jobs whose lease expired through bj_api_sync_job_lease_index.
_CLAIM_EXPIRED = _CLAIM.format(
    claimable="candidate.state = %(running)s AND candidate.lease_until < now() AT TIME ZONE 'UTC'", order=_ORDER)
# Walks bj_api_sync_job_config_due_index in order, from the first due job, and stops at the limit.
_CLAIM_DUE = _CLAIM.format(claimable=_DUE, order=_ORDER)
# The same, from after the last job claimed.
_CLAIM_DUE_AFTER = _CLAIM.format(
    claimable=_DUE + " AND (candidate.next_attempt_at, candidate.id) > (%(after_at)s, %(after_id)s)", order=_ORDER)

# When the dispatcher must look again: the next retry, lease expiry, end of a hold or probe still ahead.
_NEXT_DUE = """
SELECT MIN(due.at) FROM (
       SELECT GREATEST(CASE WHEN job.state = %(pending)s THEN job.next_attempt_at ELSE job.lease_until END,
                       health.held_until,
                       CASE WHEN health.state = 'open' THEN health.next_probe_at END) AS at
         FROM bj_api_sync_job AS job
         JOIN bj_api_sync_config AS config ON config.id = job.config_id
         LEFT JOIN bj_api_sync_health AS health ON health.config_id = config.id
        WHERE config.active AND NOT COALESCE(config.queue_paused, FALSE)
          AND job.state IN %(unfinished)s) AS due
 WHERE due.at > now() AT TIME ZONE 'UTC'
"""


@dataclasses.dataclass
class _Flight:
    """One claimed job on its way: claimed, its request finished, sent by a pool thread, concluded."""
    job_id: int
    config_id: int
    slot_wait: float = 0.0        # seconds to wait for its rate-limit slot, from ``claimed_at``
    claimed_at: float = 0.0       # time.monotonic()
    item: Planned = None
    key: str = None
    number: int = 1
    sender_id: int = None         # the config it goes through, when not its own (a fallback)
    profile: object = None        # the sender's config as read when the request was finished
    request: object = None
    refreshed: bool = False       # credentials were renewed after a 401: no second renewal

    @property
    def sender(self):
        return self.sender_id or self.config_id


def _wake_helpers(registry):
    """A backlog: wake the other dispatcher crons (the *helper* and its copies), so that more cron
    workers share it. Odoo runs one cron in one worker at a time."""
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        main = env.ref(jobs.DISPATCHER_CRON)
        helpers = env['ir.cron'].search([('model_id.model', '=', 'bj.api.sync.job'), ('id', '!=', main.id),
                                         ('code', '=', main.code)])
        for helper in helpers:
            helper._trigger()


def run_budget(registry: 'Registry') -> float:
    """How long one dispatcher run may claim jobs, in seconds (``engine/outbox/budget.py``): the longest
    request in flight is that of the slowest config with jobs waiting."""
    with registry.cursor() as cr:
        cr.execute("""SELECT MAX(connection_timeout + read_timeout) FROM bj_api_sync_config AS config
                       WHERE EXISTS (SELECT 1 FROM bj_api_sync_job AS job
                                      WHERE job.config_id = config.id AND job.state = %s)""", [PENDING])
        longest_request = cr.fetchone()[0] or 0
    return cron.time_budget(longest_request)


def dispatch(registry: 'Registry', time_budget: float = cron.UNLIMITED_BUDGET, concurrency: int | None = None) -> int:
    """Send due jobs, several at a time, until none is left or the time budget is spent; return
    how many were sent. When the budget ran out first, the dispatcher is woken again for the rest."""
    deadline = time.monotonic() + time_budget
    logbook.recover(registry)
    # One cursor for the run, a transaction per turn.
    with registry.cursor() as cr:
        _session(cr)
        concurrency = concurrency or _concurrency(cr)
        _refresh_statistics(cr)
        cr.commit()  # pylint: disable=invalid-commit  # the run's own cursor: a transaction per turn
        turn = _Turn(cr, concurrency)
        _run_turns(turn, concurrency, deadline)
        env = turn.env
        if time.monotonic() < deadline:
            cr.execute(_NEXT_DUE, jobs.CLAIM_STATES)
            next_due = cr.fetchone()[0]
            if turn.sent:
                soon = cr.now() + datetime.timedelta(seconds=LOOK_AGAIN)
                next_due = min(next_due, soon) if next_due else soon
            if next_due:
                jobs.wake_dispatcher(env, at=next_due)
        else:
            jobs.wake_dispatcher(env)
    return turn.sent


def _run_turns(turn, concurrency, deadline):
    """Turns, while there is something to send or in flight and time left to claim; the HTTP attempts
    are made by a pool of ``concurrency`` threads meanwhile."""
    in_flight = {}
    finished = []
    with concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix='bj_api_sync') as pool:
        while True:
            ready = turn.run(finished, len(in_flight), time.monotonic() < deadline)
            for flight in ready:
                in_flight[pool.submit(_transmit, flight)] = flight
            if not in_flight:
                if turn.concluded:
                    finished = []  # one more turn claims what the last one freed
                    continue
                if turn.look_in is None or time.monotonic() + turn.look_in >= deadline:
                    return
                # Jobs wait for a rate-limit slot another dispatcher holds: soon free.
                time.sleep(turn.look_in)
                finished, turn.look = [], True
                continue
            done, _pending = concurrent.futures.wait(in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
            if len(done) < len(in_flight):
                # Requests sent together come back together: a turn concludes them together.
                done, _pending = concurrent.futures.wait(in_flight, timeout=GATHER)
            finished = [(in_flight.pop(future), future.result()) for future in done]


class _Turn:
    """One turn of a dispatcher, in one short read-committed transaction: conclude the attempts that
    came back, lock the health rows concerned (once, in config id order: dispatchers never deadlock),
    learn from the outcomes, claim what flow control allows, and finish the claimed requests.

    The deliveries of a turn are concluded, recorded and finished together, with no savepoint each.
    Should one break (an error, in the database or not), the turn is rolled back and done again
    *carefully*: each delivery in a savepoint, the broken one concluded as failed and logged."""

    def __init__(self, cr, concurrency):
        self.env = api.Environment(cr, SUPERUSER_ID, {})
        self.concurrency = concurrency
        self.outbounds = _Outbounds(self.env)  # each config read once per run
        self.again = []        # flights to send again with renewed credentials
        self.look = True       # jobs may be claimable: none was looked for yet, or an outcome freed one
        self.look_in = None    # seconds until a rate-limited config may send again, when nothing else can
        self.helped = False
        self.concluded = False  # the last turn concluded deliveries (which may let others go)
        self.careful = False   # this turn is done again one delivery at a time
        self.sent = 0
        self.due = None        # the configs with due jobs (config_id, any lease expired), to claim from in turn
        self.due_read_at = 0.0  # time.monotonic() when they were read
        self.claimed_up_to = {}  # config_id: (next_attempt_at, id) of the last due job this run claimed
        self.swept_at = {}     # config_id: time.monotonic() of its last claim from its first due job

    def run(self, finished, in_flight, claiming):
        """Conclude ``finished`` (flight, attempt) pairs, with ``in_flight`` others still out; when
        ``claiming``, claim more; commit. Returns the flights ready to send."""
        again, self.again = self.again, []
        cr = self.env.cr
        try:
            settled, claimed, ready, refused, renewed = self._run(finished, again, in_flight, claiming)
        except Exception:  # noqa: BLE001 - a broken delivery must not stop the others
            _logger.warning("BJ API: a delivery broke a dispatcher's turn; the turn is done again one delivery "
                            "at a time", exc_info=True)
            self.outbounds.discard()  # the rows of this turn are written by the careful one
            cr.rollback()
            self.careful = True
            try:
                settled, claimed, ready, refused, renewed = self._run(finished, again, in_flight, claiming)
            finally:
                self.careful = False
        cr.commit()  # pylint: disable=invalid-commit  # the run's own cursor: the turn's transaction ends here
        for flight in renewed:
            flight.refreshed, flight.request = True, None
        self.again = renewed
        self.sent += len(settled) + len(refused)
        # What this turn freed is for the next one to claim, if no other dispatcher did.
        self.look = bool(claimed) or bool(finished)
        self.concluded = bool(finished) or bool(refused)
        if not self.helped and len(claimed) == self.concurrency:
            _wake_helpers(self.env.registry)
            self.helped = True
        return ready

    def _run(self, finished, again, in_flight, claiming):
        cr, env, outbounds = self.env.cr, self.env, self.outbounds
        settled, renewed = self._conclude(outbounds, finished)
        now = _now(cr)
        self._record(outbounds, settled, now)
        free = self.concurrency - in_flight - len(again)
        due = self._due(claiming and (self.look or finished), free)
        healths, locked = self._load_health(cr, settled, due, now)
        pauses = _learn(healths, locked, settled, now)
        freed = collections.Counter(flight.config_id for flight, _verdict in settled)
        claimed = self._claim(cr, healths, [row for row in due if row[0] not in pauses], free, now, freed)
        ready, refused = self._finish(outbounds, again + claimed, now)
        pauses.update(self._learn_late(cr, healths, locked, refused, now))
        self._save_health(env, healths, locked, pauses)
        if pauses:
            self.due = None  # read again, without the configs paused
        return settled, claimed, ready, refused, renewed

    def _each(self, outbounds, flight, work):
        """``work()`` for one delivery; when careful, in a savepoint, and a delivery that breaks is
        concluded as failed (its verdict returned)."""
        if not self.careful:
            return work()
        marks = outbounds.marks()
        try:
            with outbounds.env.cr.savepoint():
                return work()
        except Exception as error:  # noqa: BLE001 - a broken job must not stop the dispatcher
            outbounds.forget(marks)
            return _broken(outbounds[flight.config_id], flight, error)

    @staticmethod
    def _record(outbounds, settled, now):
        """Write the concluded attempts' log rows, then their jobs' states: one INSERT, one UPDATE."""
        outbounds.flush()
        jobs.settle(outbounds.env, [(flight.job_id, verdict, outbounds[flight.config_id].profile.schedule.max_attempts)
                                    for flight, verdict in settled], now)
        outbounds.env.flush_all()

    def _due(self, looking, free):
        """The configs with due jobs (when claiming at all): read in the order their first job became due,
        then each one that got all it asked for goes last (see _claim), until they are read again."""
        if not looking or free <= 0:
            return []
        if self.due is None or time.monotonic() - self.due_read_at >= SWEEP_EVERY:
            cr = self.env.cr
            cr.execute(_DUE_CONFIGS, jobs.CLAIM_STATES)
            self.due, self.due_read_at = cr.fetchall(), time.monotonic()
        return list(self.due)

    @staticmethod
    def _load_health(cr, settled, due, now):
        """The health of the configs concerned; those whose attempts went wrong are locked."""
        troubled = {flight.sender for flight, verdict in settled if health.signal(verdict) != (health.ALIVE, None)}
        concerned = {flight.sender for flight, _verdict in settled} | {config_id for config_id, _expired in due}
        return health.load(cr, concerned, jobs.CLAIM_STATES, now, troubled)

    def _finish(self, outbounds, flights, now):
        """Finish the requests of the claimed flights (credentials and remote ids as they are now);
        those that are not sent are concluded at once."""
        ready, refused = [], []
        for flight in flights:
            verdict = self._each(outbounds, flight, lambda flight=flight: _finish_one(outbounds, flight))
            if verdict is None:
                ready.append(flight)
            else:
                refused.append((flight, verdict))
        self._record(outbounds, refused, now)
        return ready, refused

    @staticmethod
    def _learn_late(cr, healths, locked, refused, now):
        """Learn from the requests refused while finishing, locking their health rows if need be (no wait)."""
        late = {flight.sender for flight, _verdict in refused} - locked
        late_healths = health.lock(cr, late, jobs.CLAIM_STATES, wait=False)
        healths.update(late_healths)
        locked |= set(late_healths)
        return _learn(healths, locked, refused, now)

    @staticmethod
    def _save_health(env, healths, locked, pauses):
        """Store the locked health rows; pause the configs that must be."""
        for config_id in locked:
            health.save(env.cr, healths[config_id])
        for config_id, (gone, error) in pauses.items():
            env['bj.api.sync.config'].browse(config_id)._pause_for_health(gone, error)

    def _conclude(self, outbounds, finished):
        """The verdicts on ``finished`` attempts, logged, and the flights whose credentials were renewed
        after a 401 (to send again)."""
        settled, renewed = [], []
        for flight, attempt in finished:
            outbound = outbounds[flight.sender]
            verdict = self._each(outbounds, flight, lambda flight=flight, attempt=attempt, outbound=outbound: (
                outbound.answered(flight.item, flight.request, attempt, flight.number, outbound.profile.schedule,
                                  flight.job_id, flight.refreshed)))
            if verdict is None:
                renewed.append(flight)
            else:
                settled.append((flight, verdict))
        return settled, renewed

    def _claim(self, cr, healths, due, capacity, now, freed):
        """Claim up to ``capacity`` jobs of the ``due`` configs (config id, any lease expired), within
        each one's flow control. Concurrency this turn ``freed`` (per config) is left to the other
        dispatchers until the next turn: a dispatcher taking back what it just freed would keep a
        config's whole max_concurrency to itself."""
        flights, self.look_in = [], None
        started = time.monotonic()
        for config_id, expired in due:
            state = healths.get(config_id)
            if state is None or len(flights) >= capacity:
                continue
            state.running += freed[config_id]
            allowed, probe = state.allowance(capacity - len(flights), now)
            if not allowed:
                if state.rate_limit and state.next_slot_at and not probe:
                    wait = (state.next_slot_at - now).total_seconds() - health.CLAIM_HORIZON
                    self.look_in = min(self.look_in or MAX_SLOT_WAIT, max(wait, 0.01))
                continue
            slot_waits = state.reserve(allowed, now)
            claimed = self._claim_jobs(cr, config_id, expired, allowed, slot_waits[-1])
            self._rotate(config_id, expired, len(claimed) == allowed)
            if state.rate_limit and len(claimed) < allowed:
                # Fewer jobs than slots reserved: give the unused slots back.
                state.next_slot_at -= datetime.timedelta(seconds=(allowed - len(claimed)) / state.rate_limit)
            if probe and claimed:
                state.probe_job_id, state.probe_running = claimed[0][0], True
            # Fewer jobs than slots is normal (the unused slots were given back above).
            flights += [_claimed_flight(row, config_id, slot_wait, started)
                        for row, slot_wait in zip(claimed, slot_waits, strict=False)]
        if flights:
            self.look_in = None
        return flights


    def _claim_jobs(self, cr, config_id, expired, allowed, slot_wait):
        """Claim up to ``allowed`` jobs of a config: those whose lease expired if ``expired``, then due ones
        after the last this run claimed, then, if still short, from the first due one. A job held back by
        an earlier one of its record, or committed late, may come before the last claimed: every
        SWEEP_EVERY seconds, a claim starts from the first due one."""
        claims = [(_CLAIM_EXPIRED, {})] if expired else []
        after = self.claimed_up_to.get(config_id)
        if after and time.monotonic() - self.swept_at.get(config_id, 0.0) < SWEEP_EVERY:
            claims.append((_CLAIM_DUE_AFTER, {'after_at': after[0], 'after_id': after[1]}))
        claims.append((_CLAIM_DUE, {}))
        claimed = []
        for query, params in claims:
            if len(claimed) >= allowed:
                break
            if query is _CLAIM_DUE:
                self.swept_at[config_id] = time.monotonic()
            cr.execute(query, {**jobs.CLAIM_STATES, **params, 'margin': LEASE_MARGIN_SECONDS, 'config_id': config_id,
                               'limit': allowed - len(claimed), 'slot_wait': slot_wait})
            claimed += sorted(cr.fetchall())
        due = [(row[6], row[0]) for row in claimed if row[6] is not None]
        if due:
            self.claimed_up_to[config_id] = max(due + ([after] if after else []))
        return claimed

    def _rotate(self, config_id, expired, satisfied):
        """A config that got all it asked for goes last, so that the others with due jobs get their turn;
        one that came up short may have none left: the configs are read again at the next turn."""
        if self.due is None:
            return
        if not satisfied:
            self.due = None
            return
        self.due.remove((config_id, expired))
        self.due.append((config_id, False))


def _claimed_flight(row, config_id, slot_wait, claimed_at):
    """A flight from a claimed job's row (the claim's RETURNING)."""
    job_id, res_ids, body, values, key, attempts, _next_attempt_at = row
    item = Planned([int(record_id) for record_id in (res_ids or '').split(',') if record_id],
                   body=json.loads(body) if body else None, url_values=json.loads(values) if values else {})
    return _Flight(job_id, config_id, slot_wait, claimed_at, item=item, key=key, number=attempts)


def _refresh_statistics(cr):
    """After many jobs were queued, the planner's statistics still describe the table before them
    until autovacuum analyzes it (up to a minute or more, or never for a small share of a large
    table), and claims walk every waiting job instead of the first few in index order. Analyze the
    table then, at most once per run: a few tens of milliseconds. (A single large batch is analyzed
    as it is queued: these counters lag behind by up to a second.)"""
    cr.execute("SELECT n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables WHERE relname = 'bj_api_sync_job'")
    row = cr.fetchone()
    if row and row[0] >= jobs.STALE_STATISTICS_ROWS:
        cr.execute("ANALYZE (SKIP_LOCKED) bj_api_sync_job")


def _session(cr):
    """Set the run's cursor for its turns, once, on its connection (Odoo's pool resets a connection when it
    lends it to another cursor):

    * read committed transactions, not Odoo's repeatable read: a job another dispatcher claimed since a
      statement began is passed over (SKIP LOCKED), and a health row another one changed is read once
      its lock is released, not a conflict;
    * no sort where an index gives the order (see the comment before _DUE_CONFIGS), and no JIT
      compilation, which the cost a plan gets for a sort it cannot avoid would trigger (JIT never pays
      for statements of a millisecond).

    Nothing to do for a test cursor, a savepoint of the test's transaction."""
    if isinstance(cr, sql_db.Cursor):
        cr.connection.set_isolation_level(ISOLATION_LEVEL_READ_COMMITTED)
        cr.execute("SET enable_sort = off; SET jit = off")


def _now(cr):
    """The clock of the turn: its transaction's timestamp. (A test cursor's is that of its creation,
    ``datetime.now()``, kept across its commits: a turn in a test takes the time it starts.)"""
    return cr.now() if isinstance(cr, sql_db.Cursor) else datetime.datetime.now()


def _concurrency(cr):
    cr.execute("SELECT value FROM ir_config_parameter WHERE key = 'bj_api_sync.dispatch_concurrency'")
    row = cr.fetchone()
    try:
        return max(1, int(row[0])) if row else DEFAULT_CONCURRENCY
    except ValueError:
        return DEFAULT_CONCURRENCY


def _finish_one(outbounds, flight):
    """Finish the request of ``flight`` (where it goes, then the request itself); the verdict, logged,
    of a flight not sent, else None."""
    outbound = outbounds[flight.config_id]
    if flight.sender_id is None:
        refusal = _resolve(outbounds, outbound, flight)
        if refusal:
            return refusal
    sender = outbounds[flight.sender]
    try:
        flight.request, flight.profile = sender.finish(flight.item, flight.key), sender.profile
    except (RequestError, AuthError) as error:
        return sender.not_sent(flight.item, error, flight.number, outbound.profile.schedule, flight.job_id)
    return None


def _resolve(outbounds, outbound, flight):
    """Where the flight goes at send time (``Outbound.route``); the verdict of a flight not sent, else None."""
    fallback_id = outbound.profile.remote.fallback_config_id
    route = outbound.route(flight.item, fallback=outbounds[fallback_id] if fallback_id else None)
    if route.via_fallback:
        flight.sender_id = fallback_id
    if route.skipped:
        log = route.sender.outcomes.skipped(route.item.record_ids, route.skipped, job_id=flight.job_id)
        return Verdict(DONE, flight.number, log_id=log.id)
    flight.item = route.item
    return None


def _transmit(flight):
    """In a pool thread: wait for the rate-limit slot, then make the one HTTP attempt (no database)."""
    wait = flight.slot_wait - (time.monotonic() - flight.claimed_at)
    if wait > 0:
        time.sleep(wait)
    return transport.send(flight.request, flight.profile.timeout, flight.profile.tls)


def _broken(outbound, flight, error):
    _logger.exception("BJ API: delivery %s could not be sent", flight.job_id)
    log = outbound.outcomes.refused(flight.item.record_ids, f"{type(error).__name__}: {error}",
                                    job_id=flight.job_id, number=flight.number)
    return Verdict(FAILED, flight.number, error=log.error_message, log_id=log.id)


class _Outbounds(dict):
    """The front door of each config, for a dispatcher run: a config is read once per run (a run lasts
    well under a minute, and the next one reads its changes)."""

    def __init__(self, env):
        super().__init__()
        self.env = env

    def __missing__(self, config_id):
        config = self.env['bj.api.sync.config'].with_context(active_test=False).browse(config_id)
        outbound = self[config_id] = front_door.Outbound(config, log_later=True)
        return outbound

    def flush(self):
        for outbound in self.values():
            outbound.outcomes.book.flush()

    def marks(self):
        return {config_id: outbound.outcomes.book.mark() for config_id, outbound in self.items()}

    def forget(self, marks):
        """Forget the log rows kept since ``marks`` (a delivery rolled back to its savepoint)."""
        for config_id, outbound in self.items():
            outbound.outcomes.book.forget(marks.get(config_id, 0))

    def discard(self):
        for outbound in self.values():
            outbound.outcomes.book.discard()


def _learn(healths, locked, settled, now):
    """Update the health of each ``locked`` config from its settled attempts (the others are quiet
    and were told only of successes); {config_id: (gone, error)} of the configs to pause."""
    pauses = {}
    for flight, verdict in settled:
        if flight.sender not in locked:
            continue
        signal, hold = health.signal(verdict)
        state = healths[flight.sender]
        if state.learn(signal, now, flight.job_id, hold) and flight.sender not in pauses:
            pauses[flight.sender] = (signal == health.GONE, verdict.error)
    return pauses
