"""A keep-alive HTTP sink on 127.0.0.1 for benchmarks and drills: counts what it receives.

``Sink`` runs in the caller's process (the crash drill counts requests as they come).
``SinkProcess`` runs the same sink in a process of its own (``python sink.py``), so the
measured process does not share its interpreter (and GIL) with the server it sends to.

A path starting with ``/delay/<ms>/`` is answered after that many milliseconds, so one
sink serves fast and slow endpoints. ``GET /__stats__`` returns the counts as JSON and
``POST /__reset__`` zeroes them; neither is counted.
"""
# pylint: disable=print-used,invalid-commit  # a command-line benchmark: it prints its tables and commits its data
import collections
import contextlib
import http.client
import http.server
import json
import re
import subprocess
import sys
import threading
import time

_DELAY_PATH = re.compile(r'^/delay/(\d+)(?:/|$)')


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A client killed mid-request (the crash drill does it on purpose) is not news.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return None
        return super().handle_error(request, client_address)


class Sink:
    """Answers every request with ``status`` after ``delay`` seconds (or the path's
    ``/delay/<ms>/``) and counts deliveries by Idempotency-Key."""

    def __init__(self, status=200, delay=0.0, on_request=None, port=0):
        self.status = status
        self.delay = delay
        self.on_request = on_request  # called with the request count, before answering
        self.keys = collections.Counter()
        self.requests = 0
        self.connections = 0
        self.first_at = self.last_at = None  # time.time() of the first and last request counted
        self.arrivals = []                    # time.time() of every request counted (in process only)
        self.first_seen = {}                  # Idempotency-Key: time.time() it first arrived (in process only)
        self.lock = threading.Lock()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            # Without it every keep-alive request stalls ~40 ms (Nagle + delayed ACK).
            disable_nagle_algorithm = True

            counted = False  # this connection, once it carried a request

            def _handle(self):
                self.rfile.read(int(self.headers.get('Content-Length') or 0))
                if self.path == '/__stats__':
                    return self._answer(200, json.dumps(sink.stats()).encode())
                if self.path == '/__reset__':
                    sink.reset()
                    return self._answer(200, b'{}')
                with sink.lock:
                    sink.requests += 1
                    count = sink.requests
                    key = self.headers.get('Idempotency-Key')
                    sink.keys[key] += 1
                    sink.last_at = time.time()
                    sink.first_seen.setdefault(key, sink.last_at)
                    sink.first_at = sink.first_at or sink.last_at
                    sink.arrivals.append(sink.last_at)
                    if not self.counted:
                        self.counted = True
                        sink.connections += 1
                if sink.on_request:
                    sink.on_request(count)
                match = _DELAY_PATH.match(self.path)
                delay = int(match.group(1)) / 1000 if match else sink.delay
                if delay:
                    time.sleep(delay)
                self._answer(sink.status, b'{}')

            def _answer(self, status, payload):
                try:
                    self.send_response(status)
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client is gone (killed mid-request)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args):
                pass

        self.server = _Server(('127.0.0.1', port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_port}"

    def stats(self):
        with self.lock:
            return {'requests': self.requests, 'connections': self.connections, 'keys': dict(self.keys),
                    'first_at': self.first_at, 'last_at': self.last_at}

    def reset(self):
        with self.lock:
            self.requests = self.connections = 0
            self.first_at = self.last_at = None
            self.arrivals.clear()
            self.first_seen.clear()
            self.keys.clear()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class SinkProcess:
    """A ``Sink`` in a child process; ``stats()`` and ``reset()`` ask it over HTTP."""

    def __init__(self):
        self.process = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline().split()[-1])

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def url_for(self, path, delay_ms=0):
        """The URL of ``path`` on the sink, answered after ``delay_ms``."""
        return f"{self.url}/delay/{delay_ms}/{path.lstrip('/')}" if delay_ms else f"{self.url}/{path.lstrip('/')}"

    def _call(self, method, path):
        connection = http.client.HTTPConnection('127.0.0.1', self.port, timeout=30)
        try:
            connection.request(method, path)
            return json.loads(connection.getresponse().read())
        finally:
            connection.close()

    def stats(self):
        """{'requests': n, 'connections': n, 'keys': {Idempotency-Key: times received}}."""
        return self._call('GET', '/__stats__')

    def reset(self):
        self._call('POST', '/__reset__')

    def stop(self):
        self.process.terminate()
        self.process.wait()


if __name__ == '__main__':
    served = Sink()
    print(f"sink listening on {served.server.server_port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends a sink started by hand
        threading.Event().wait()
