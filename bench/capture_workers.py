"""The change capture in production mode: one Odoo server with `--workers=2 --max-cron-threads=1` and
Odoo's default limits, driven over JSON-RPC as a user's browser drives it.

`bench/run capture_workers [--creates 20]`

A config captures the creation of contacts (immediate, to a sink on 127.0.0.1). Each JSON-RPC call
opens a connection of its own, so the calls land on both HTTP workers. The drill creates contacts
while the config captures, after archiving it, after restoring it and after deleting it: the sink
must get one request per contact exactly while the config is active. Archiving, restoring and
deleting are done by one worker; the other learns of it through Odoo's registry signalling. Shown:
the requests the sink got per step, which workers served the creates, the registry reloads, and the
server log's warnings and errors. Nothing is asserted; a row whose count differs is marked.
"""
# pylint: disable=print-used,invalid-commit  # a command-line benchmark: it prints its tables and commits its data
import argparse
import contextlib
import http.server
import re
import sys
import tempfile
import threading
import time

import requests
from common import odoo_server, print_table, progress

PORT = 18092
SINK_PORT = 18096
BASE_URL = f'http://127.0.0.1:{PORT}'
START_TIMEOUT = 120
LOG_LINE = re.compile(r'^\S+ \S+ (\d+) (\w+) ')


class Sink:
    """Counts the JSON bodies POSTed to it."""

    def __init__(self):
        self.bodies = []
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            disable_nagle_algorithm = True

            def do_POST(self):
                length = int(self.headers.get('Content-Length') or 0)
                sink.bodies.append(self.rfile.read(length))
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', '2')
                self.end_headers()
                self.wfile.write(b'{}')

            def log_message(self, *args):
                return

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', SINK_PORT), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Client:
    """JSON-RPC as the admin user; a new connection per call (prefork workers answer HTTP/1.0)."""

    def __init__(self, db):
        answer = requests.post(f'{BASE_URL}/web/session/authenticate', timeout=60, json={
            'jsonrpc': '2.0', 'params': {'db': db, 'login': 'admin', 'password': 'admin'}})
        answer.raise_for_status()
        self.cookies = answer.cookies

    def call(self, model, method, *args, **kwargs):
        answer = requests.post(f'{BASE_URL}/web/dataset/call_kw/{model}/{method}', cookies=self.cookies, timeout=60, json={
            'jsonrpc': '2.0', 'params': {'model': model, 'method': method, 'args': list(args), 'kwargs': kwargs}})
        body = answer.json()
        if 'error' in body:
            raise RuntimeError(body['error'])
        return body['result']


@contextlib.contextmanager
def server(db, log_path):
    process = odoo_server(db, '--workers=2', '--max-cron-threads=1', '--http-interface=127.0.0.1',
                          f'--http-port={PORT}', log_path=log_path)
    try:
        started = time.monotonic()
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f'{BASE_URL}/web/login', timeout=5).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() - started > START_TIMEOUT:
                raise SystemExit(f"the Odoo server did not start; see {log_path}")
            time.sleep(0.5)
        yield
    finally:
        process.terminate()
        process.wait()


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('db')
    parser.add_argument('--creates', type=int, default=20, help="contacts created per step (default 20)")
    args = parser.parse_args(argv)
    sink = Sink()
    log_path = tempfile.mktemp(prefix='bj-capture-workers-', suffix='.log')
    progress(f"server: --workers=2 --max-cron-threads=1, log {log_path}")
    rows = []
    with server(args.db, log_path):
        client = Client(args.db)
        model_id = client.call('ir.model', 'search', [('model', '=', 'res.partner')])[0]
        post = client.call('ir.model.data', 'check_object_reference', 'bj_api_sync', 'http_method_post')[1]
        config = client.call('bj.api.sync.config', 'create', {
            'name': 'Bench capture across workers', 'model_id': model_id,
            'url': f'http://127.0.0.1:{SINK_PORT}/contacts', 'http_method_ids': [(6, 0, [post])],
            'line_ids': [(0, 0, {'api_key': 'name', 'field_path': 'name'})], 'sync_on_create': True})
        steps = [('capturing', None, args.creates), ('archived', {'active': False}, 0),
                 ('restored', {'active': True}, args.creates), ('deleted', 'unlink', 0)]
        for label, change, expected in steps:
            if change == 'unlink':
                client.call('bj.api.sync.config', 'unlink', [config])
            elif change:
                client.call('bj.api.sync.config', 'write', [config], change)
            before = len(sink.bodies)
            for number in range(args.creates):
                client.call('res.partner', 'create', {'name': f'Bench capture {label} {number}'})
            time.sleep(0.5)  # immediate deliveries go out right after each commit
            got = len(sink.bodies) - before
            rows.append([label, f"{args.creates}", f"{expected}", f"{got}" + ("" if got == expected else "  ← differs")])
        client.call('res.partner', 'unlink', client.call('res.partner', 'search', [('name', '=like', 'Bench capture %')]))
    with open(log_path, encoding='utf-8', errors='replace') as log:
        lines = log.readlines()
    workers = sorted({match.group(1) for line in lines if 'werkzeug' in line and 'call_kw/res.partner/create' in line
                      for match in [LOG_LINE.match(line)] if match})
    reloads = sum('Reloading the model registry' in line for line in lines)
    problems = [line.rstrip() for line in lines if (match := LOG_LINE.match(line))
                and match.group(2) in ('WARNING', 'ERROR', 'CRITICAL')]
    print_table("Change capture across two HTTP workers (immediate, sync on create)",
                ['config', 'contacts created', 'requests expected', 'requests at the sink'], rows)
    print(f"creates served by worker pids: {', '.join(workers) or '?'}; registry reloads after signalling: {reloads}")
    print(f"server log warnings and errors: {len(problems)}")
    for line in problems[:10]:
        print("  " + line)


if __name__ == '__main__':
    main(sys.argv[1:])
