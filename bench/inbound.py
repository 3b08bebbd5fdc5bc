"""Inbound endpoints against Odoo's own JSON-RPC: requests per second of one Odoo server started with
`--workers=2 --max-cron-threads=0` and Odoo's default limits.

`bench/run inbound [--requests 2000] [--clients 4] [--runs 5] [--batches 4]` (the server listens on
BJ_BENCH_INBOUND_PORT, 18091 by default)

The endpoint is fixtures.inbound_endpoint(): `partners`, Basic auth, run as an internal user with
contact rights, mapping ref (the identifier), name, email, phone and city, all plain fields. Both sides
send that user's login and password and read or write those fields:

  read     GET /bj_api_sync/v1/partners/<ref>        vs JSON-RPC execute_kw res.partner read([id], fields)
  create   POST /bj_api_sync/v1/partners (the keys)  vs JSON-RPC execute_kw res.partner create(values)
  batch    PUT /bj_api_sync/v1/partners, 1,000 new   vs JSON-RPC execute_kw res.partner create([1,000 values])
           people (the batch upsert)

The batch is measured in records per second (B batches per measurement, the clients sharing them), and
compared with JSON-RPC's and with single POSTs' records per second (a POST creates one).

C client threads, each with its own requests.Session, send N requests per measurement after a warm-up;
each of the R runs measures both sides of both operations, taking turns by blocks of 100 requests (all
B batches) in the order ABBA, the side going first alternating between runs, so that background work
(autovacuum after the creates) and a slower minute of the machine fall on both sides. Shown:
requests per second as median (min–max) of the runs, the inbound/JSON-RPC ratio of each run, latency
percentiles over all runs, and failed answers (inbound: not 200/201; JSON-RPC: an "error" key), then
the warnings and errors of the server log. Every inbound request also writes one bj.api.log row,
JSON-RPC none. The people created and the endpoint's log rows are deleted at the end. Figures are
printed, nothing is asserted.
"""
# pylint: disable=print-used,invalid-commit  # a command-line benchmark: it prints its tables and commits its data
import argparse
import collections
import concurrent.futures
import contextlib
import os
import re
import sys
import tempfile
import time
import urllib.parse

import fixtures
import requests
from common import environment, odoo_server, percentile, print_table, progress, registry, spread, summary

PORT = int(os.environ.get('BJ_BENCH_INBOUND_PORT', '18091'))
BASE_URL = f'http://127.0.0.1:{PORT}'
NEW_PREFIX = 'bench-inbound:new:'    # res.partner.ref of the people the create runs make
WARM_UP = 100                        # requests of each kind before measuring
BLOCK = 100                          # requests of one side before the other side's turn
START_TIMEOUT = 120                  # seconds for the server to answer
REQUEST_TIMEOUT = 60
BATCH = 1000                         # records of one batch
OPERATIONS = {'read': 'read one record (GET / read)', 'create': 'create (POST / create)',
              'batch': f'create {BATCH:,} (PUT batch / create list)'}
SIDES = ('inbound', 'jsonrpc')
LOG_PROBLEM = re.compile(r'^\S+ \S+ \d+ (WARNING|ERROR|CRITICAL) |^Traceback')


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('db')
    parser.add_argument('--requests', type=int, default=2000, help="requests per measurement")
    parser.add_argument('--clients', type=int, default=4, help="concurrent clients (threads)")
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--batches', type=int, default=4, help=f"batches of {BATCH:,} per measurement")
    args = parser.parse_args(argv)
    reg = registry(args.db)
    with reg.cursor() as cr:
        env = environment(cr)
        config, person = fixtures.inbound_endpoint(env)
        # The batch upsert is PUT on the collection (with POST, which the endpoint allows).
        config.http_method_ids |= env.ref('bj_api_sync.http_method_put')
        calls = Calls(args.db, config.inbound_user_id.id, person.id, person.ref)
        config_id = config.id
        cr.execute("SELECT COALESCE(MAX(id), 0) FROM bj_api_log")
        [last_log_id] = cr.fetchone()
    server_log = tempfile.NamedTemporaryFile(prefix='bj-inbound-', suffix='.log', delete=False).name
    try:
        with serving(args.db, server_log):
            results = compare(calls, args)
    finally:
        with reg.cursor() as cr:
            log_rows = clean_up(environment(cr), config_id, last_log_id)
    report(results, args)
    print(f"\nEvery inbound request also writes one bj.api.log row, JSON-RPC none: {log_rows:,} rows, "
          f"warm-up included (deleted at the end).")
    print("The inbound GET finds the person by ref (the identifier line) and reads it; JSON-RPC reads it by id.\n"
          "The inbound POST also checks that the ref is new and answers the person as mapped; JSON-RPC create "
          "answers the id.\n"
          "Odoo's prefork workers answer HTTP/1.0 and close each connection: every request opens one, on both sides.\n"
          "The clients run on the same machine as the server and PostgreSQL.")
    server_problems(server_log)


class Calls:
    """The requests measured: ``call(session, key)`` sends one and returns None, or what is wrong with
    its answer; ``key`` is unique to the request (a create makes the new person's ref of it)."""

    def __init__(self, db, uid, person_id, person_ref):
        self.db = db
        self.uid = uid
        self.person_id = person_id
        self.endpoint = f'{BASE_URL}/bj_api_sync/v1/{fixtures.INBOUND_ENDPOINT}'
        self.person_url = f'{self.endpoint}/{urllib.parse.quote(person_ref, safe="")}'
        self.auth = (fixtures.INBOUND_LOGIN, fixtures.INBOUND_PASSWORD)
        self.fields = [line['field_path'] for line in fixtures.INBOUND_LINES]

    def sends(self):
        """{(operation, side): call}"""
        return {('read', 'inbound'): self.inbound_read, ('read', 'jsonrpc'): self.jsonrpc_read,
                ('create', 'inbound'): self.inbound_create, ('create', 'jsonrpc'): self.jsonrpc_create,
                ('batch', 'inbound'): self.inbound_batch, ('batch', 'jsonrpc'): self.jsonrpc_batch}

    def inbound_read(self, session, key):
        return _unexpected(session.get(self.person_url, auth=self.auth, timeout=REQUEST_TIMEOUT), 200)

    def jsonrpc_read(self, session, key):
        return self._jsonrpc(session, 'read', [[self.person_id]], {'fields': self.fields})

    def inbound_create(self, session, key):
        return _unexpected(session.post(self.endpoint, json=self.values(key), auth=self.auth,
                                        timeout=REQUEST_TIMEOUT), 201)

    def jsonrpc_create(self, session, key):
        return self._jsonrpc(session, 'create', [self.values(key)], {})

    def inbound_batch(self, session, key):
        response = session.put(self.endpoint, json=self.batch(key), auth=self.auth, timeout=REQUEST_TIMEOUT)
        unexpected = _unexpected(response, 200)
        if unexpected:
            return unexpected
        created = response.json()['created']
        return None if created == BATCH else f"{created:,} of {BATCH:,} created: {response.text[:300]}"

    def jsonrpc_batch(self, session, key):
        return self._jsonrpc(session, 'create', [self.batch(key)], {})

    def batch(self, key):
        return [self.values(f'{key}-{number}') for number in range(BATCH)]

    def values(self, key):
        """A new person: the endpoint's keys are the field names, so this is both the body and the values."""
        return {'ref': f'{NEW_PREFIX}{key}', 'name': f'Bench Inbound New {key}', 'email': f'new-{key}@example.com',
                'phone': '+32 2 555 01 01', 'city': 'Brussels'}

    def _jsonrpc(self, session, method, args, kwargs):
        response = session.post(f'{BASE_URL}/jsonrpc', timeout=REQUEST_TIMEOUT, json={
            'jsonrpc': '2.0', 'method': 'call', 'id': 1, 'params': {
                'service': 'object', 'method': 'execute_kw',
                'args': [self.db, self.uid, fixtures.INBOUND_PASSWORD, 'res.partner', method, args, kwargs]}})
        unexpected = _unexpected(response, 200)
        if unexpected:
            return unexpected
        answer = response.json()
        return f"error {str(answer['error'])[:300]}" if 'error' in answer else None


def _unexpected(response, status):
    return None if response.status_code == status else f"{response.status_code} {response.text[:300]}"


@contextlib.contextmanager
def serving(db, log_path):
    """One Odoo server with two HTTP workers on PORT, once it answers; stopped on leaving."""
    server = odoo_server(db, '--workers=2', '--max-cron-threads=0', '--http-interface=127.0.0.1',
                         f'--http-port={PORT}', log_path=log_path)
    progress(f"server started (log: {log_path})")
    try:
        started = time.monotonic()
        while not _answers():
            if server.poll() is not None or time.monotonic() - started > START_TIMEOUT:
                raise SystemExit(f"the Odoo server did not start; see {log_path}")
            time.sleep(0.5)
        yield
    finally:
        server.terminate()
        server.wait()


def _answers():
    try:
        return requests.get(f'{BASE_URL}/web/health', timeout=5).status_code == 200
    except requests.RequestException:
        return False


def compare(calls, args):
    """{(operation, side): [measure() of each run]}, after a warm-up of each."""
    sends = calls.sends()
    stamp = int(time.time())  # refs stay unique across reruns
    counts = {'read': args.requests, 'create': args.requests, 'batch': args.batches}
    blocks = {'read': BLOCK, 'create': BLOCK, 'batch': args.batches}
    for (operation, side), call in sends.items():
        progress(f"warming up: {operation}, {side}")
        measure(call, f'{stamp}-warm-{side}', WARM_UP if operation != 'batch' else 1, args.clients)
    results = {pair: [] for pair in sends}
    for run in range(args.runs):
        for operation in OPERATIONS:
            both = measure_sides({side: sends[operation, side] for side in SIDES}, f'{stamp}-{run}-{operation}',
                                 counts[operation], blocks[operation], args.clients, first=run % 2)
            for side, result in both.items():
                results[operation, side].append(result)
            progress(f"run {run + 1}/{args.runs}, {operation}: " + ', '.join(
                f"{side} {result['per_second']:,.0f} req/s, {len(result['failures'])} failed"
                for side, result in both.items()))
    return results


def measure_sides(calls, label, count, block, clients, first=0):
    """``count`` calls of each side ({side: call}), the sides taking turns by blocks of ``block`` calls
    in the order ABBA (``first``: which side starts), so that what the machine does meanwhile
    (autovacuum after the creates, a slower minute) falls on both: {side: measure() of its blocks}."""
    sides = list(calls)
    if first:
        sides.reverse()
    totals = {side: {'seconds': 0.0, 'latencies': [], 'failures': []} for side in sides}
    for number, start in enumerate(range(0, count, block)):
        size = min(block, count - start)
        for side in sides if number % 2 == 0 else sides[::-1]:
            result = measure(calls[side], f'{label}-{side}-{start}', size, clients)
            total = totals[side]
            total['seconds'] += result['seconds']
            total['latencies'] += result['latencies']
            total['failures'] += result['failures']
    return {side: {'per_second': count / total['seconds'], 'latencies': total['latencies'],
                   'failures': total['failures']} for side, total in totals.items()}


def measure(call, label, count, clients):
    """``count`` calls by ``clients`` threads, each with its own session: requests per second, the
    seconds they took, latencies (s) and failures."""
    def client(number):
        latencies, failures = [], []
        with requests.Session() as session:
            for index in range(number, count, clients):
                started = time.perf_counter()
                try:
                    failure = call(session, f'{label}-{index}')
                except (requests.RequestException, ValueError) as error:
                    failure = f"{type(error).__name__}: {error}"
                latencies.append(time.perf_counter() - started)
                if failure:
                    failures.append(failure)
        return latencies, failures

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    seconds = time.perf_counter() - started
    return {'per_second': count / seconds, 'seconds': seconds,
            'latencies': [latency for latencies, _failures in results for latency in latencies],
            'failures': [failure for _latencies, failures in results for failure in failures]}


def clean_up(env, config_id, last_log_id):
    """Delete the people the create runs made and the endpoint's log rows of this run; how many rows it wrote."""
    progress("deleting the people created")
    env['res.partner'].with_context(active_test=False).search([('ref', '=like', f'{NEW_PREFIX}%')]).unlink()
    env.cr.execute("DELETE FROM bj_api_log WHERE config_id = %s AND id > %s", [config_id, last_log_id])
    return env.cr.rowcount


def report(results, args):
    rows, failures = [], collections.Counter()
    for operation, label in OPERATIONS.items():
        inbound, jsonrpc = results[operation, 'inbound'], results[operation, 'jsonrpc']
        ratios = [ours['per_second'] / theirs['per_second'] for ours, theirs in zip(inbound, jsonrpc, strict=True)]
        failed = [sum(len(run['failures']) for run in runs) for runs in (inbound, jsonrpc)]
        rows.append([label, spread(summary([run['per_second'] for run in inbound])),
                     spread(summary([run['per_second'] for run in jsonrpc])), spread(summary(ratios), 2),
                     _percentiles(inbound), _percentiles(jsonrpc), f"{failed[0]:,} / {failed[1]:,}"])
        for side in SIDES:
            failures.update(f"{operation}, {side}: {failure}" for run in results[operation, side]
                            for failure in run['failures'])
    print_table(f"Inbound endpoint vs Odoo JSON-RPC, one server (--workers=2): {args.clients} clients, "
                f"{args.requests:,} requests per measurement ({args.batches} for a batch), {args.runs} runs",
                ['operation', 'inbound req/s', 'JSON-RPC req/s', 'inbound/JSON-RPC',
                 'inbound p50/p95 ms', 'JSON-RPC p50/p95 ms', 'failed inbound / JSON-RPC'], rows)
    for failure, count in failures.most_common(10):
        print(f"  {count:,} × {failure}")
    batch = [run['per_second'] * BATCH for run in results['batch', 'inbound']]
    rpc_batch = [run['per_second'] * BATCH for run in results['batch', 'jsonrpc']]
    posts = [run['per_second'] for run in results['create', 'inbound']]
    print(f"\nRecords created per second: batch {spread(summary(batch))}, JSON-RPC create of a list "
          f"{spread(summary(rpc_batch))}, single POSTs {spread(summary(posts))}; batch / single POSTs "
          f"{spread(summary([ours / single for ours, single in zip(batch, posts, strict=True)]), 1)}×.")


def _percentiles(runs):
    latencies = [latency for run in runs for latency in run['latencies']]
    return f"{percentile(latencies, 50) * 1000:.1f} / {percentile(latencies, 95) * 1000:.1f}"


def server_problems(log_path):
    """The warnings, errors and tracebacks of the server log."""
    with open(log_path, errors='replace') as log:
        lines = [line.rstrip() for line in log if LOG_PROBLEM.search(line)]
    print(f"\nServer log {log_path}: {len(lines)} warning(s), error(s) or traceback(s)")
    for line in lines[:20]:
        print(f"  {line[:300]}")


if __name__ == '__main__':
    main(sys.argv[1:])
