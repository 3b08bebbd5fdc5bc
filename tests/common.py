"""A real HTTP server on 127.0.0.1 standing in for the external API, and the base test case."""
import collections
import contextlib
import dataclasses
import http.server
import json
import socket
import threading
import time
from unittest.mock import patch
from urllib.parse import parse_qsl, urlsplit

import odoo.tests.common
from odoo.tests import TransactionCase
from odoo.tests.common import BlockedRequest, _super_send

from ..engine.shared import transport


@dataclasses.dataclass
class Received:
    """One request as the external API saw it."""
    method: str
    path: str
    query: list
    headers: dict
    body: bytes
    at: float
    concurrent: int = 1  # requests the API was answering when this one arrived, itself included

    @property
    def json(self):
        return json.loads(self.body) if self.body else None

    @property
    def query_dict(self):
        return dict(self.query)


@dataclasses.dataclass
class Reply:
    status: int = 200
    body: object = dataclasses.field(default_factory=lambda: {'ok': True})
    headers: dict = dataclasses.field(default_factory=dict)
    delay: float = 0.0


class _Server(http.server.ThreadingHTTPServer):
    """With a TLS context, each connection's handshake happens in its own thread (a client that
    never completes it cannot block the others), and a refused handshake is just dropped."""
    daemon_threads = True

    def __init__(self, address, handler, tls_context=None):
        self.tls_context = tls_context
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        if self.tls_context:
            request.settimeout(5)
            try:
                request = self.tls_context.wrap_socket(request, server_side=True)
            except OSError:
                return
        super().finish_request(request, client_address)


class FakeApi:
    """Records every request; answers with queued replies, then with ``default``."""

    def __init__(self, tls_context=None):
        self.received = []
        self.replies = collections.deque()
        self.default = Reply()
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            # Without it every keep-alive request stalls ~40 ms (Nagle + delayed ACK).
            disable_nagle_algorithm = True

            def _handle(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else b''
                parts = urlsplit(self.path)
                reply = api._record(Received(
                    self.command, parts.path, parse_qsl(parts.query, keep_blank_values=True),
                    dict(self.headers), body, time.monotonic()))
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body if isinstance(reply.body, (bytes, str)) else json.dumps(reply.body)
                payload = payload.encode() if isinstance(payload, str) else payload
                try:
                    self.send_response(reply.status)
                    headers = {'Content-Type': 'application/json', **reply.headers}
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header('Content-Length', str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (read timeout): nothing to answer
                finally:
                    api._answered()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, *args):
                pass

        self.server = _Server(('127.0.0.1', 0), Handler, tls_context)
        self.scheme = 'https' if tls_context else 'http'
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _record(self, received):
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            received.concurrent = self.in_flight
            self.received.append(received)
            return self.replies.popleft() if self.replies else self.default

    def _answered(self):
        with self._lock:
            self.in_flight -= 1

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def url(self, path='/'):
        return f"{self.scheme}://127.0.0.1:{self.server.server_port}{path}"

    def reply(self, *replies):
        """Queue the next answers, in order."""
        self.replies.extend(replies)

    def reset(self):
        with self._lock:
            self.received.clear()
            self.replies.clear()
            self.default = Reply()
            self.most_in_flight = self.in_flight


@contextlib.contextmanager
def other_threads_open_cursors():
    """Let threads other than the test's open (test) cursors: 19.0's test thread holds their lock for the
    whole test, 18.0's takes it per cursor."""
    release = getattr(odoo.tests.common, 'release_test_lock', None)
    with release() if release else contextlib.nullcontext():
        yield


def free_port_url(path='/'):
    """A loopback URL where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


class LoopbackOnly:
    """For test cases: the addon's guard of outgoing requests instead of Odoo's, which cannot read
    (connect, read) timeouts."""

    @classmethod
    def _request_handler(cls, session, request, /, **kwargs):
        """Odoo's test guard, minus its 10 s minimum timeout: timeouts are under test here."""
        if urlsplit(request.url).hostname not in ('127.0.0.1', 'localhost'):
            raise BlockedRequest(f"Only loopback requests in tests (was {request.method} {request.url})")
        return _super_send(session, request, **kwargs)


class BjApiCase(LoopbackOnly, TransactionCase):
    """Base for BJ API tests: a fake API server and quick helpers to configure calls."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = FakeApi().start()
        cls.addClassCleanup(cls.api.stop)
        # Real backoff waits would make the suite slow; the policy itself is tested separately.
        params = cls.env['ir.config_parameter'].sudo()
        params.set_param('bj_api_sync.backoff_base_seconds', '0.01')
        params.set_param('bj_api_sync.backoff_max_seconds', '0.05')
        cls.method_get = cls.env.ref('bj_api_sync.http_method_get')
        cls.method_post = cls.env.ref('bj_api_sync.http_method_post')
        cls.method_put = cls.env.ref('bj_api_sync.http_method_put')
        cls.method_delete = cls.env.ref('bj_api_sync.http_method_delete')
        cls.partner_model = cls.env['ir.model']._get('res.partner')

    def setUp(self):
        super().setUp()
        self.api.reset()

    def make_config(self, model='res.partner', method=None, lines=(), **values):
        """A config for ``model`` posting to the fake API; ``lines`` are (api_key, field_path) pairs or dicts."""
        line_values = [
            line if isinstance(line, dict) else {'api_key': line[0], 'field_path': line[1]}
            for line in lines
        ]
        return self.env['bj.api.sync.config'].create({
            'name': values.pop('name', f'Test {model}'),
            'request_type': 'out',
            'model_id': self.env['ir.model']._get(model).id,
            'url': values.pop('url', self.api.url('/api/items')),
            'http_method_ids': [(6, 0, (method or self.method_post).ids)],
            'line_ids': [(0, 0, line) for line in line_values],
            **values,
        })

    @contextlib.contextmanager
    def shared_cursors(self):
        """Cursors the code opens itself (registry.cursor()) share this test's transaction."""
        if hasattr(self, 'registry_enter_test_mode'):  # 19.0
            self.registry_enter_test_mode(cr=self.env.cr, register_cleanup=False)
            leave = self.registry_leave_test_mode
        else:
            self.registry.enter_test_mode(self.env.cr)
            leave = self.registry.leave_test_mode
        try:
            yield
        finally:
            leave()

    def run_cron(self, cron):
        """Run a scheduled action now, as Odoo's cron runner would (19.0 runs it in a cursor of its own,
        which shares this test's transaction here)."""
        with self.shared_cursors():
            cron.method_direct_trigger()

    def commit(self):
        """What a real commit runs: flush and precommit hooks, then postcommit hooks
        (whose own cursors share this test's transaction, so everything stays inside the test)."""
        self.env.flush_all()
        self.env.cr.precommit.run()
        with self.shared_cursors():
            self.env.cr.postcommit.run()

    @contextlib.contextmanager
    def sent_timeouts(self):
        """Collect the timeout each request is sent with."""
        seen = []
        real_send = transport.send

        def spy(request, timeout, *args, **kwargs):
            seen.append(timeout)
            return real_send(request, timeout, *args, **kwargs)

        with patch.object(transport, 'send', spy):
            yield seen

    def assert_no_secret_stored(self, config, *secrets):
        """No secret in any column of the config's log rows and deliveries (which must have log rows)."""
        self.env.flush_all()
        self.env.cr.execute("""SELECT row_to_json(log)::text FROM bj_api_log AS log WHERE config_id = %(id)s
                               UNION ALL
                               SELECT row_to_json(job)::text FROM bj_api_sync_job AS job WHERE config_id = %(id)s""",
                            {'id': config.id})
        rows = [row for (row,) in self.env.cr.fetchall()]
        self.assertTrue(rows)
        for row in rows:
            for secret in secrets:
                self.assertNotIn(secret, row)

    def logs(self, config):
        return self.env['bj.api.log'].search([('config_id', '=', config.id)], order='id')
