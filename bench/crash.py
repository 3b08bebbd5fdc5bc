"""Drill: SIGKILL an Odoo worker while it dispatches 1,000 queued deliveries, restart it,
and show that every delivery arrives and none is lost. Then SIGKILL a process in the middle of an
immediate call of 500 requests (one per record): its transaction dies with it, and the log rows of
the requests it made are written from its journal by the next recovery.

Run with `bench/run crash`. Prints figures; exits non-zero if a delivery or a log row is lost.
"""
# pylint: disable=print-used,invalid-commit  # a command-line benchmark: it prints its tables and commits its data
import os
import signal
import sys
import tempfile
import time

import fixtures
from common import environment, odoo_server, python_worker, registry
from sink import Sink

JOBS = 1000
KILL_AT = 300             # the worker is killed while this request waits for its answer
CALL_RECORDS = 500        # requests of the immediate call killed in the middle
PORT = int(os.environ.get('BJ_BENCH_CRASH_PORT', '18091'))
TIMEOUT = 300             # seconds to wait for each phase


def wait_for(condition, what):
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > TIMEOUT:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def start_worker(db, reg, log_path, sink, workers):
    """An Odoo server with one cron worker, added to ``workers`` at once (it may reach the request to
    be killed before it is seen delivering), woken until it delivers (a wake-up sent while no server
    listened is not replayed: Odoo's cron thread would wait for its next poll)."""
    worker = odoo_server(db, '--max-cron-threads=1', '--http-interface=127.0.0.1', f'--http-port={PORT}',
                         log_path=log_path)
    workers.append(worker)
    started, before = time.monotonic(), sink.requests
    for _attempt in range(30):
        time.sleep(1)
        if sink.requests > before:
            break
        with reg.cursor() as cr:
            environment(cr).ref('bj_api_sync.ir_cron_dispatch_jobs')._trigger()
    print(f"worker {worker.pid} delivering after {time.monotonic() - started:.1f} s")


def job_states(reg, config_id):
    with reg.cursor() as cr:
        cr.execute("SELECT state, count(*) FROM bj_api_sync_job WHERE config_id = %s GROUP BY state", [config_id])
        return dict(cr.fetchall())


def main(db):
    workers = []

    def kill_mid_request(count):
        if count == KILL_AT:
            workers[-1].send_signal(signal.SIGKILL)

    sink = Sink(delay=0.002, on_request=kill_mid_request)
    reg = registry(db)
    with reg.cursor() as cr:
        env = environment(cr)
        # A killed worker's job is taken over once its lease ends: keep the drill short.
        env['ir.config_parameter'].set_param('bj_api_sync.lease_margin_seconds', '2')
        config = env['bj.api.sync.config'].create({
            'name': 'Crash drill',
            'model_id': env['ir.model']._get('res.partner').id,
            'url': f"{sink.url}/crash",
            'http_method_ids': [(6, 0, env.ref('bj_api_sync.http_method_post').ids)],
            'delivery_mode': 'queued',
            'connection_timeout': 1,
            'read_timeout': 2,
            'line_ids': [(0, 0, {'api_key': 'name', 'field_path': 'name'})],
        })
        partners = env['res.partner'].create([{'name': f'Crash {i}'} for i in range(JOBS)])
        result = config._make_outbound_http_request(partners)
        config_id, expected = config.id, set(env['bj.api.sync.job'].browse(result['job_ids']).mapped('idempotency_key'))
    print(f"queued {len(expected)} deliveries to {sink.url}")

    log_dir = tempfile.mkdtemp(prefix='bj-crash-')
    started = time.monotonic()
    start_worker(db, reg, os.path.join(log_dir, 'worker-1.log'), sink, workers)
    workers[-1].wait()
    killed_after = time.monotonic() - started
    at_kill = sink.requests
    states_at_kill = job_states(reg, config_id)
    print(f"SIGKILL {killed_after:.2f} s after start, during request {KILL_AT}: "
          f"{at_kill} requests received, jobs {states_at_kill}")

    start_worker(db, reg, os.path.join(log_dir, 'worker-2.log'), sink, workers)
    try:
        recovery = wait_for(lambda: job_states(reg, config_id).get('done', 0) == JOBS, "every job done")
    finally:
        workers[-1].send_signal(signal.SIGTERM)
        workers[-1].wait()
    delivered = set(sink.keys) & expected
    duplicates = {key: count for key, count in sink.keys.items() if count > 1}
    missing = expected - delivered
    print(f"restarted worker finished in {recovery:.2f} s; jobs {job_states(reg, config_id)}")
    print(f"deliveries: {len(expected)} queued, {len(delivered)} received, {len(missing)} missing, "
          f"{len(duplicates)} received twice (same Idempotency-Key: the receiver drops them), "
          f"{sink.requests} requests in all")
    print(f"worker logs: {log_dir}")
    sink.stop()
    return 1 if missing or not immediate_call_drill(db, reg) else 0


def immediate_call_drill(db, reg):
    """SIGKILL a process during request KILL_AT of an immediate call of CALL_RECORDS requests; True when
    every request answered has its log row once the next recovery ran."""
    from odoo.addons.bj_api_sync.engine.shared import logbook
    workers = []

    def kill_mid_call(count):
        if count == KILL_AT:
            workers[-1].send_signal(signal.SIGKILL)

    sink = Sink(delay=0.002, on_request=kill_mid_call)
    with reg.cursor() as cr:
        env = environment(cr)
        fixtures.partners(env, CALL_RECORDS)
        config = env['bj.api.sync.config'].create({
            'name': 'Crash drill, immediate call',
            'model_id': env['ir.model']._get('res.partner').id,
            'url': f"{sink.url}/call",
            'http_method_ids': [(6, 0, env.ref('bj_api_sync.http_method_post').ids)],
            'max_retries': 0,
            'line_ids': [(0, 0, {'api_key': 'name', 'field_path': 'name'})],
        })
        config_id = config.id
    workers.append(python_worker('worker.py', db, 'sync', config_id, CALL_RECORDS))
    workers[-1].wait()
    answered = sink.requests - 1  # the last one was on the wire when the process died

    def rows():
        with reg.cursor() as cr:
            cr.execute("SELECT COUNT(*), COUNT(DISTINCT res_ids) FROM bj_api_log WHERE config_id = %s", [config_id])
            return cr.fetchone()

    before = rows()[0]
    recovered = logbook.recover(reg)
    after, records = rows()
    sink.stop()
    print(f"immediate call of {CALL_RECORDS} requests: SIGKILL during request {KILL_AT}; {answered} answered; "
          f"log rows: {before} before recovery (its transaction died with it), {after} after ({recovered} "
          f"written from journals), {records} records; {answered - after} missing")
    return after == records == answered


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
