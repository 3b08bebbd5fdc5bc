"""Delivery against its peer, side by side in one run: the same webhooks sent by this addon's outbox and
by OCA queue_job, the queue behind OCA's webhook_outgoing, to the same sink, on the same machine.

`bench/run peers [--jobs 3000] [--delays 0,50] [--runs 3] [--idle 20] [--trickle 200 --rate 20]`

The peer is the PyPI package odoo-addon-queue-job of this Odoo series, installed by bench/run for this
benchmark only (`pip install --no-deps` into a folder of the bench's own: never a dependency of the
addon), with bench/peers/bj_bench_queue_job: one job per delivery POSTs the payload with a pooled
session. Both get the payload of the same mapping, built when the change is made.

Two servers run at once, with Odoo's default limits, each left idle while the other is measured:

* ours: `--workers=2 --max-cron-threads=1`: the outbox and its one cron worker, woken by the NOTIFY
  that follows the commit;
* the peer: `--workers=2 --max-cron-threads=0 --load=base,web,queue_job`, channels `root:8`
  (ODOO_QUEUE_JOB_CHANNELS), as queue_job's README says: its job runner, a process of its own, has
  each job run by a request to one of the two HTTP workers.

For each endpoint delay (a sink on 127.0.0.1 answering in 0 and 50 ms), the two take turns, the one
going first alternating by run:

* drain: N deliveries committed in one transaction: deliveries per second from the commit to the last
  arrival, and p50/p95 of commit-to-arrival (a backlog: each one waits for those before it);
* trickle: one delivery per transaction, --rate per second: p50/p95 of commit-to-arrival;
* idle: one delivery, committed once the system is idle (IDLE_GAP after the last arrival): p50/p95 of
  commit to its first attempt.

Deliveries are counted at the sink by Idempotency-Key (received twice, or never). Server logs give the
watchdog's kills. Figures are printed and merged into bench/results.json (section peers); nothing is
asserted. The load average of the machine is printed with them.
"""
# pylint: disable=print-used,invalid-commit  # a command-line benchmark: it prints its tables and commits its data
import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid

import fixtures
import requests
from common import (
    BENCH_DIR,
    environment,
    merge_results,
    odoo_server,
    percentile,
    print_table,
    progress,
    registry,
    summary,
)
from sink import Sink

PORTS = {'ours': (18301, 18303), 'peer': (18302, 18304)}  # HTTP, gevent (websockets)
CHANNELS = 'root:8'
START_TIMEOUT = 180   # seconds for a server to answer, and for its first delivery
TIMEOUT = 900         # seconds: a drain gives up after this
IDLE_GAP = 2.5        # seconds between idle deliveries: the dispatcher's run and its look again are over


class Ours:
    name = 'bj_api_sync outbox'
    key = 'ours'
    server_args = ('--workers=2', '--max-cron-threads=1')

    def __init__(self):
        self.configs = {}

    def queue(self, env, partners, url):
        """Queue one delivery per partner in ``env``'s transaction; their Idempotency-Keys."""
        config = self.configs.get(url)
        if config is None:
            config = fixtures.config(env, f'Peers {url}', url, queued=True)
            self.configs[url] = config.id
        else:
            config = env['bj.api.sync.config'].browse(config)
        result = config._make_outbound_http_request(partners)
        env.cr.execute("SELECT idempotency_key FROM bj_api_sync_job WHERE id IN %s", [tuple(result['job_ids'])])
        return [key for (key,) in env.cr.fetchall()]


class Peer:
    name = 'OCA queue_job'
    key = 'peer'
    server_args = ('--workers=2', '--max-cron-threads=0', '--load=base,web,queue_job')

    def __init__(self):
        self.configs = {}

    def queue(self, env, partners, url):
        """One queue_job job per partner, with the payload of the same mapping; their keys."""
        from odoo.addons.bj_api_sync.engine.outbound.front_door import Outbound
        from odoo.addons.bj_api_sync.engine.shared.payload import to_json_text
        config = self.configs.get(url)
        if config is None:
            config = fixtures.config(env, f'Peers payload {url}', url)
            self.configs[url] = config.id
        else:
            config = env['bj.api.sync.config'].browse(config)
        keys = []
        for item in Outbound(config.sudo()).plan(partners):
            key = str(uuid.uuid4())
            env['res.partner'].browse(item.record_ids[0]).with_delay(channel='root')._bj_bench_deliver(
                url, to_json_text(item.body), key)
            keys.append(key)
        return keys


class Servers:
    """``with Servers(db, systems) as logs:`` one server per system, answering and delivering."""

    def __init__(self, db, systems, sink, reg):
        self.db, self.systems, self.sink, self.reg = db, systems, sink, reg
        self.processes, self.logs = [], {}

    def __enter__(self):
        os.environ['ODOO_QUEUE_JOB_CHANNELS'] = CHANNELS
        for system in self.systems:
            log = tempfile.NamedTemporaryFile(prefix=f'bj-peers-{system.key}-', suffix='.log', delete=False).name
            self.logs[system.key] = log
            http, gevent = PORTS[system.key]
            self.processes.append(odoo_server(self.db, *system.server_args, '--http-interface=127.0.0.1',
                                              f'--http-port={http}', f'--gevent-port={gevent}', log_path=log))
        progress(f"servers started (logs: {', '.join(self.logs.values())})")
        for system in self.systems:
            self._wait_for_http(system)
        for system in self.systems:
            # The first deliveries load each worker's registry: not measured.
            started = time.monotonic()
            keys = deliver(self.reg, system, 4, f"{self.sink.url}/warm-up")
            wait_for(self.sink, keys, START_TIMEOUT)
            progress(f"{system.name}: warmed up in {time.monotonic() - started:.0f} s")
        return self.logs

    def _wait_for_http(self, system):
        started = time.monotonic()
        while time.monotonic() - started < START_TIMEOUT:
            try:
                requests.get(f"http://127.0.0.1:{PORTS[system.key][0]}/web/login", timeout=5)
                return
            except requests.RequestException:
                time.sleep(1)
        raise SystemExit(f"{system.name}: its server does not answer (log: {self.logs[system.key]})")

    def __exit__(self, *exc):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait()


def deliver(reg, system, count, url, offset=0):
    """Commit ``count`` deliveries to ``url`` in one transaction; their keys."""
    with reg.cursor() as cr:
        env = environment(cr)
        partners = fixtures.partners(env, offset + count)[offset:]
        keys = system.queue(env, partners, url)
        cr.commit()
    return keys


def wait_for(sink, keys, timeout):
    """Wait until every key arrived (or ``timeout``); their arrival times (None: never)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if all(key in sink.first_seen for key in keys):
            break
        time.sleep(0.02)
    return [sink.first_seen.get(key) for key in keys]


def drain(reg, system, sink, count, delay):
    """``count`` deliveries committed at once: deliveries/s to the last arrival, p50/p95, lost, twice."""
    sink.reset()
    keys = deliver(reg, system, count, f"{sink.url}/delay/{delay}/{system.key}")
    committed = time.time()
    arrivals = wait_for(sink, keys, TIMEOUT)
    latencies = [arrival - committed for arrival in arrivals if arrival is not None]
    return {'deliveries': count, 'per_second': len(latencies) / max(latencies) if latencies else 0,
            'p50': percentile(latencies, 50), 'p95': percentile(latencies, 95),
            'lost': count - len(latencies), 'twice': sum(1 for key in keys if sink.keys.get(key, 0) > 1)}


def trickle(reg, system, sink, count, rate, delay):
    """One delivery per transaction, ``rate`` per second: p50/p95 of commit to arrival."""
    sink.reset()
    url = f"{sink.url}/delay/{delay}/{system.key}-trickle"
    committed, keys = {}, []
    started = time.monotonic()
    for number in range(count):
        time.sleep(max(0.0, started + number / rate - time.monotonic()))
        [key] = deliver(reg, system, 1, url, offset=number)
        committed[key] = time.time()
        keys.append(key)
    arrivals = wait_for(sink, keys, TIMEOUT)
    latencies = [arrival - committed[key] for key, arrival in zip(keys, arrivals, strict=True) if arrival]
    return {'p50': percentile(latencies, 50), 'p95': percentile(latencies, 95), 'lost': count - len(latencies)}


def idle(reg, system, sink, count, delay):
    """One delivery at a time, each committed once the system is idle: p50/p95 of commit to first attempt."""
    latencies = []
    url = f"{sink.url}/delay/{delay}/{system.key}-idle"
    for number in range(count):
        time.sleep(IDLE_GAP)
        keys = deliver(reg, system, 1, url, offset=number)
        committed = time.time()
        [arrival] = wait_for(sink, keys, START_TIMEOUT)
        if arrival:
            latencies.append(arrival - committed)
    return {'p50': percentile(latencies, 50), 'p95': percentile(latencies, 95), 'lost': count - len(latencies)}


def kills(log):
    with open(log, 'rb') as lines:
        return sum(1 for line in lines.read().decode(errors='replace').splitlines()
                   if 'timeout after' in line or 'timed out' in line)


def main(argv):
    parser = argparse.ArgumentParser(prog='bench/run peers', description=__doc__.split('\n\n')[0])
    parser.add_argument('db')
    parser.add_argument('--jobs', type=int, default=3000, help="deliveries of a drain (default 3,000)")
    parser.add_argument('--delays', default='0,50', help="endpoint delays in ms, comma-separated")
    parser.add_argument('--runs', type=int, default=3, help="drains of each system at each delay")
    parser.add_argument('--trickle', type=int, default=200, help="deliveries of the trickle (0: skip)")
    parser.add_argument('--rate', type=float, default=20, help="trickle deliveries per second")
    parser.add_argument('--idle', type=int, default=20, help="deliveries sent one at a time to an idle system")
    parser.add_argument('--output', default=os.path.join(BENCH_DIR, 'results.json'),
                        help="JSON file the section is merged into")
    args = parser.parse_args(argv)
    from odoo import release
    delays = [int(delay) for delay in args.delays.split(',')]
    started, load_before = time.perf_counter(), os.getloadavg()
    reg = registry(args.db)
    with reg.cursor() as cr:
        fixtures.partners(environment(cr), max(args.jobs, args.trickle, args.idle, 4), progress)
    systems = [Ours(), Peer()]
    sink = Sink()
    figures = {(system.key, delay): {'drain': [], 'trickle': None, 'idle': None} for system in systems
               for delay in delays}
    print(f"bj_api_sync against OCA queue_job on {args.db}, Odoo {release.version}: {args.jobs:,} deliveries per "
          f"drain, {args.runs} runs, delays {delays} ms; {os.cpu_count()} CPUs, load average "
          f"{load_before[0]:.1f} at the start", flush=True)
    try:
        with Servers(args.db, systems, sink, reg) as logs:
            for run in range(args.runs):
                for delay in delays:
                    for system in (systems if run % 2 == 0 else systems[::-1]):
                        progress(f"run {run + 1}: {system.name}, {delay} ms endpoint, {args.jobs:,} deliveries")
                        result = drain(reg, system, sink, args.jobs, delay)
                        figures[system.key, delay]['drain'].append(result)
                        progress(f"  {result['per_second']:.0f}/s, p95 {result['p95']:.1f} s, lost {result['lost']}")
            for delay in delays:
                for system in systems:
                    if args.trickle:
                        progress(f"trickle: {system.name}, {delay} ms endpoint, {args.trickle} at {args.rate:g}/s")
                        figures[system.key, delay]['trickle'] = trickle(reg, system, sink, args.trickle, args.rate, delay)
                    if args.idle:
                        progress(f"idle: {system.name}, {delay} ms endpoint, {args.idle} deliveries one at a time")
                        figures[system.key, delay]['idle'] = idle(reg, system, sink, args.idle, delay)
            killed = {key: kills(log) for key, log in logs.items()}
    finally:
        sink.stop()
    load_after = os.getloadavg()
    rows, data = [], []
    for delay in delays:
        peer_rate = statistics.median(run['per_second'] for run in figures['peer', delay]['drain'])
        for system in systems:
            result = figures[system.key, delay]
            rate = summary([run['per_second'] for run in result['drain']])
            trickled, idled = result['trickle'] or {}, result['idle'] or {}
            entry = {
                'system': system.name, 'endpoint_ms': delay, 'deliveries': args.jobs,
                'per_second': rate, 'vs_peer': rate['median'] / peer_rate if peer_rate else None,
                'drain_p50_s': statistics.median(run['p50'] for run in result['drain']),
                'drain_p95_s': statistics.median(run['p95'] for run in result['drain']),
                'trickle': trickled, 'idle': idled,
                'lost': sum(run['lost'] for run in result['drain']) + trickled.get('lost', 0) + idled.get('lost', 0),
                'twice': sum(run['twice'] for run in result['drain']), 'kills': killed[system.key],
            }
            data.append(entry)
            rows.append([system.name, f"{delay} ms", f"{rate['median']:,.0f} ({rate['min']:,.0f}–{rate['max']:,.0f})",
                         f"{entry['vs_peer']:.2f}×" if entry['vs_peer'] else '-',
                         f"{entry['drain_p50_s']:.1f} / {entry['drain_p95_s']:.1f}",
                         _seconds(trickled), _seconds(idled), str(entry['lost']), str(entry['twice']),
                         str(entry['kills'])])
    title = (f"Delivery against OCA queue_job: {args.jobs:,} webhooks per drain, --workers=2 each "
             f"(ours: the outbox, one cron worker; queue_job: channels {CHANNELS})")
    print_table(title, ['system', 'endpoint', 'deliveries/s', 'vs peer', 'drain p50 / p95 s',
                        'trickle p50 / p95 s', 'idle p50 / p95 s', 'lost', 'twice', 'kills'], rows)
    wall = time.perf_counter() - started
    print(f"\nDeliveries/s: median (min–max) of {args.runs} drains, from the commit to the last arrival; latencies "
          f"from commit to arrival (trickle: {args.trickle} at {args.rate:g}/s; idle: {args.idle}, one at a time). "
          f"Load average {load_before[0]:.1f} before, {load_after[0]:.1f} after ({os.cpu_count()} CPUs). "
          f"Wall time {wall / 60:.1f} min.")
    meta = {'date': datetime.datetime.now().isoformat(timespec='seconds'), 'database': args.db,
            'odoo': release.version, 'jobs': args.jobs, 'runs': args.runs, 'trickle': args.trickle,
            'rate': args.rate, 'idle': args.idle, 'channels': CHANNELS, 'python': platform.python_version(),
            'cpus': os.cpu_count(), 'load_average': [round(load_before[0], 1), round(load_after[0], 1)],
            'machine': platform.platform(), 'wall_seconds': round(wall, 1)}
    merge_results(args.output, {'peers': {'title': title, 'meta': meta, 'figures': data}})


def _seconds(figure):
    return f"{figure['p50']:.2f} / {figure['p95']:.2f}" if figure else '-'


if __name__ == '__main__':
    main(sys.argv[1:])
