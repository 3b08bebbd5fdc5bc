"""Production mode: the outbox drained by Odoo servers started with `--workers=2 --max-cron-threads=1`
and Odoo's default limits (limit_time_real_cron = limit_time_real = 120 s).

`bench/run production [--jobs N] [--delays 0,50,200] [--servers 1,2] [--rate-limit 20 --rate-jobs 600]`

For each number of servers, the servers are started and left to warm up (a new cron worker sleeps up
to about 70 s before its first poll). Then, for each endpoint delay, N deliveries are queued in one
commit, as a user's transaction would, and the drain is timed at the sink. Throughput is deliveries
per second between the first and the last arrival, as the median (min–max) of its whole seconds and
overall. Watchdog kills come from the server logs, duplicates and losses from the sink's
Idempotency-Keys and the jobs' states. With two servers, a rate-limited config shows that its limit
holds across both dispatchers. Figures are printed and merged into bench/results.json (section
production); nothing is asserted.
"""
# pylint: disable=print-used,invalid-commit  # a command-line benchmark: it prints its tables and commits its data
import argparse
import collections
import datetime
import os
import statistics
import sys
import tempfile
import time

import fixtures
from common import BENCH_DIR, environment, merge_results, odoo_server, print_table, progress, registry
from sink import Sink

WARM_UP = 75      # seconds: the first poll of a new cron worker
TIMEOUT = 1200    # seconds: a drain gives up after this


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('db')
    parser.add_argument('--jobs', type=int, default=10000)
    parser.add_argument('--delays', default='0,50,200', help="endpoint delays in ms, comma-separated")
    parser.add_argument('--servers', default='1,2', help="numbers of servers, comma-separated")
    parser.add_argument('--rate-limit', type=float, default=20, help="rate_limit of the two-server run (0: skip)")
    parser.add_argument('--rate-jobs', type=int, default=600)
    parser.add_argument('--output', default=os.path.join(BENCH_DIR, 'results.json'),
                        help="JSON file the section is merged into")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    reg = registry(args.db)
    with reg.cursor() as cr:
        fixtures.partners(environment(cr), args.jobs, progress)
    sink = Sink()
    rows, rate_rows = [], []
    try:
        for servers in map(int, args.servers.split(',')):
            with running_servers(args.db, servers) as logs:
                for delay in map(int, args.delays.split(',')):
                    rows.append(drain(reg, sink, logs, servers, args.jobs, delay))
                if servers == 2 and args.rate_limit:
                    rate_rows.append(drain(reg, sink, logs, servers, args.rate_jobs, 0, args.rate_limit))
    finally:
        sink.stop()
    columns = ['servers', 'endpoint', 'deliveries', 'done', 'lost', 'twice', 'kills', 'drain s',
               'per s: median (min–max) of seconds', 'per s overall']
    print_table("Production mode: the outbox drained by cron workers (--workers=2 --max-cron-threads=1 per server)",
                columns, [row[:len(columns)] for row in rows])
    if rate_rows:
        print_table(f"Rate limit {args.rate_limit:g}/s held across two servers' dispatchers",
                    ['deliveries', 'done', 'per s overall', 'vs limit', 'runs by dispatcher cron'],
                    [[row[2], row[3], row[9], f"{(float(row[9]) / args.rate_limit - 1) * 100:+.1f} %", row[10]]
                     for row in rate_rows])
    load_after = os.getloadavg()[0]
    print(f"\nLoad average {load_before:.1f} before, {load_after:.1f} after ({os.cpu_count()} CPUs).")
    keys = ['servers', 'endpoint', 'deliveries', 'done', 'lost', 'twice', 'kills', 'drain_seconds',
            'per_second_of_seconds', 'per_second_overall', 'runs']
    merge_results(args.output, {'production': {
        'title': "Production mode: the outbox drained by cron workers (--workers=2 --max-cron-threads=1 per server)",
        'meta': {'date': datetime.datetime.now().isoformat(timespec='seconds'), 'database': args.db,
                 'jobs': args.jobs, 'rate_limit': args.rate_limit, 'rate_jobs': args.rate_jobs,
                 'cpus': os.cpu_count(), 'load_average': [round(load_before, 1), round(load_after, 1)]},
        'figures': [dict(zip(keys, row, strict=True)) for row in rows],
        'rate_limit': [dict(zip(keys, row, strict=True)) for row in rate_rows],
    }})


class running_servers:
    """``with running_servers(db, n) as logs:`` n Odoo servers, warmed up; their log paths."""

    def __init__(self, db, count):
        self.db, self.count, self.servers, self.logs = db, count, [], []

    def __enter__(self):
        for number in range(self.count):
            log = tempfile.NamedTemporaryFile(prefix=f'bj-production-{number}-', suffix='.log', delete=False).name
            # No HTTP: the drill has no web client. The cron worker, its limits and its watchdog are
            # those of production.
            self.servers.append(odoo_server(self.db, '--workers=2', '--max-cron-threads=1', '--no-http',
                                            log_path=log))
            self.logs.append(log)
        progress(f"{self.count} server(s) started, warming up {WARM_UP} s (logs: {', '.join(self.logs)})")
        time.sleep(WARM_UP)
        return self.logs

    def __exit__(self, *exc):
        for server in self.servers:
            server.terminate()
        for server in self.servers:
            server.wait()


def drain(reg, sink, logs, servers, jobs, delay_ms, rate_limit=0):
    """Queue ``jobs`` deliveries to an endpoint answering in ``delay_ms`` and wait until all are done."""
    sink.reset()
    offsets = [_size(log) for log in logs]
    with reg.cursor() as cr:
        env = environment(cr)
        config = fixtures.config(env, f'Production {servers} server(s) {delay_ms} ms {time.time():.0f}',
                                 f"{sink.url}/delay/{delay_ms}/production", queued=True)
        config.rate_limit = rate_limit
        result = config._make_outbound_http_request(fixtures.partners(env, jobs))
        config_id, queued = config.id, len(result['job_ids'])
        cr.commit()
    progress(f"{servers} server(s), {delay_ms} ms endpoint: {queued} deliveries queued")
    started, states = time.monotonic(), {}
    while time.monotonic() - started < TIMEOUT and states.get('done') != queued:
        time.sleep(1)
        with reg.cursor() as cr:
            cr.execute("SELECT state, count(*) FROM bj_api_sync_job WHERE config_id = %s GROUP BY state", [config_id])
            states = dict(cr.fetchall())
    stats = sink.stats()
    lines = [line for log, offset in zip(logs, offsets, strict=True) for line in _read_from(log, offset)]
    kills = sum(1 for line in lines if 'timeout after' in line or 'timed out' in line)
    runs = collections.Counter(
        'helper' if '(helper)' in line else 'main' for line in lines
        if "'BJ API: send queued deliveries" in line and (' done in ' in line or ' processed ' in line))
    received = set(stats['keys'])
    twice = sum(1 for count in stats['keys'].values() if count > 1)
    with reg.cursor() as cr:
        cr.execute("SELECT idempotency_key FROM bj_api_sync_job WHERE config_id = %s", [config_id])
        lost = sum(1 for (key,) in cr.fetchall() if key not in received)
    span = (stats['last_at'] - stats['first_at']) if stats['first_at'] else 0
    overall = (stats['requests'] - 1) / span if span else 0
    per_second = _per_second(sink.arrivals)
    return [str(servers), f"{delay_ms} ms", f"{queued:,}", f"{states.get('done', 0):,}", str(lost), str(twice),
            str(kills), f"{time.monotonic() - started:.0f}",
            _spread(per_second),
            f"{overall:.1f}", ', '.join(f"{name} {count}" for name, count in sorted(runs.items()))]


def _spread(values):
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})" if values else '-'


def _per_second(arrivals):
    """Deliveries in each whole second between the first arrival and the last."""
    if len(arrivals) < 2:
        return []
    first = arrivals[0]
    counts = collections.Counter(int(at - first) for at in arrivals)
    whole = int(arrivals[-1] - first)  # the last, partial second is left out
    return [counts.get(second, 0) for second in range(whole)] or [len(arrivals)]


def _size(path):
    with open(path, 'rb') as log:
        return log.seek(0, 2)


def _read_from(path, offset):
    with open(path, 'rb') as log:
        log.seek(offset)
        return log.read().decode(errors='replace').splitlines()


if __name__ == '__main__':
    main(sys.argv[1:])
