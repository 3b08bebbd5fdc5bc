"""Production-mode drill: the dispatcher under `odoo-bin --workers=2 --max-cron-threads=1` with Odoo's
default limits (limit_time_real_cron = limit_time_real = 120 s).

Run with `bench/run production [--jobs N] [--delay-ms MS]`: queues N deliveries to a sink answering
in MS milliseconds, starts the server, waits until every delivery is done, then prints the
dispatcher's runs, watchdog kills and duplicates from the server log and the sink. A new cron
worker sleeps up to about 70 s before its first poll: that is in the wall time.
Figures are printed, nothing is asserted.
"""
import argparse
import sys
import tempfile
import time

from common import environment, odoo_server, registry
from sink import Sink
import fixtures

TIMEOUT = 900  # seconds: the drill gives up after this


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('db')
    parser.add_argument('--jobs', type=int, default=1000)
    parser.add_argument('--delay-ms', type=int, default=50)
    args = parser.parse_args(argv)
    reg = registry(args.db)
    sink = Sink()
    with reg.cursor() as cr:
        env = environment(cr)
        config = fixtures.config(env, f'Production drill {time.time():.0f}',
                                 f"{sink.url}/delay/{args.delay_ms}/drill", queued=True)
        result = config._make_outbound_http_request(fixtures.partners(env, args.jobs))
        config_id, jobs = config.id, len(result['job_ids'])
        cr.commit()
    print(f"queued {jobs} deliveries to a sink answering in {args.delay_ms} ms")
    log = tempfile.NamedTemporaryFile(prefix='bj-production-', suffix='.log', delete=False).name
    server = odoo_server(args.db, '--workers=2', '--max-cron-threads=1', '--http-interface=127.0.0.1',
                         '--http-port=18092', '--gevent-port=18093', log_path=log)
    started, states = time.monotonic(), {}
    try:
        while time.monotonic() - started < TIMEOUT and states.get('done') != jobs:
            time.sleep(2)
            with reg.cursor() as cr:
                cr.execute("SELECT state, count(*) FROM bj_api_sync_job WHERE config_id = %s GROUP BY state",
                           [config_id])
                states = dict(cr.fetchall())
    finally:
        server.terminate()
        server.wait()
        sink.stop()
    lines = open(log, errors='replace').read().splitlines()
    runs = [line.split('ir_cron: ')[-1] for line in lines
            if "'BJ API: send queued deliveries'" in line and (' done in ' in line or ' processed ' in line)]
    kills = [line for line in lines if 'timeout after' in line or 'timed out' in line]
    twice = sum(1 for count in sink.stats()['keys'].values() if count > 1)
    print(f"after {time.monotonic() - started:.0f} s (first cron poll included): jobs {states}, "
          f"{sink.requests} requests received")
    print(f"watchdog kills or cron timeouts: {len(kills)}; deliveries received twice: {twice}")
    print("dispatcher runs:")
    for line in runs:
        print(f"  {line}")
    print(f"server log: {log}")


if __name__ == '__main__':
    main(sys.argv[1:])
