"""The one place that talks HTTP: one attempt of one finished request.

Sessions are pooled per thread (keep-alive connections are reused across
calls). Redirects are never followed: ``requests`` would replay a POST as a
body-less GET, so a 3xx is a failed attempt that names where it pointed.
Network errors become short sentences a person can act on.
"""
import dataclasses
import functools
import http.cookiejar
import logging
import socket
import threading
import time
import warnings
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning, InvalidHeader
from urllib3.util.retry import Retry

from odoo.tools.translate import LazyGettext, LazyTranslate

if TYPE_CHECKING:
    from .tls import TlsSettings

_lt = LazyTranslate(__name__)

# What is worth another attempt (see docs/reference.md, "Retries").
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
RETRYABLE_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

_local = threading.local()

# Unverified requests go only to a configuration whose administrator turned Verify TLS off, on its
# form: the warning urllib3 would log for each of them tells nobody anything new.
warnings.filterwarnings('ignore', category=InsecureRequestWarning, module='urllib3')


class _HideQueryStrings(logging.Filter):
    """urllib3 logs each request line at debug level, query string included, where an API key
    may travel: the server log keeps only the path."""

    def filter(self, record):
        args = record.args
        if isinstance(args, tuple) and len(args) > 4 and isinstance(args[4], str) and '?' in args[4]:
            record.args = (*args[:4], args[4].split('?', 1)[0] + '?…', *args[5:])
        return True


logging.getLogger('urllib3.connectionpool').addFilter(_HideQueryStrings())


class _TlsAdapter(HTTPAdapter):
    """Connections made with one config's SSL context (extra CAs, client certificate)."""

    def __init__(self, ssl_context, **kwargs):
        self.ssl_context = ssl_context
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        return super().init_poolmanager(*args, **kwargs, ssl_context=self.ssl_context)

    def proxy_manager_for(self, *args, **kwargs):
        return super().proxy_manager_for(*args, **kwargs, ssl_context=self.ssl_context)


def session(tls: 'TlsSettings | None' = None) -> requests.Session:
    """This thread's pooled session for these TLS settings (``tls.TlsSettings``; None: the defaults)."""
    key = None if tls is None or tls.is_default else tls.key
    sessions = getattr(_local, 'sessions', None)
    if sessions is None:
        sessions = _local.sessions = {}
    pooled = sessions.get(key)
    if pooled is None:
        pooled = requests.Session()
        # Integrations must not share cookies with each other through the pool.
        pooled.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        adapter = HTTPAdapter(pool_connections=16, pool_maxsize=16, max_retries=0)
        pooled.mount('http://', adapter)
        pooled.mount('https://', adapter if key is None else _TlsAdapter(
            tls.ssl_context(), pool_connections=4, pool_maxsize=16, max_retries=0))
        sessions[key] = pooled
    return pooled


@dataclasses.dataclass
class Attempt:
    """The outcome of one try: a response, or the network error that prevented it.

    ``error`` is a sentence (maybe a lazy translation) when no 2xx answer came.
    """
    duration_ms: int
    status_code: int | None = None
    response_headers: dict = dataclasses.field(default_factory=dict)
    response_text: str = ''
    error: object = None
    retryable: bool = False
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def send(request: requests.PreparedRequest, timeout: float | tuple[float, float],
         tls: 'TlsSettings | None' = None) -> Attempt:
    """Send a ``requests.PreparedRequest`` once, under ``tls`` settings; never raises for HTTP or network errors."""
    started = time.monotonic()
    verify = True if tls is None else tls.verify
    try:
        response = session(tls).send(request, timeout=timeout, allow_redirects=False,
                                     **_environment_settings(origin(request.url), verify))
    except requests.RequestException as error:
        return Attempt(duration_ms=_elapsed_ms(started), error=network_error(error, request.url, timeout),
                       retryable=isinstance(error, RETRYABLE_ERRORS))
    attempt = Attempt(
        duration_ms=_elapsed_ms(started),
        status_code=response.status_code,
        response_headers=dict(response.headers),
        response_text=response.text,
        retryable=response.status_code in RETRYABLE_STATUS,
        retry_after=_retry_after(response),
    )
    if response.is_redirect:
        attempt.error = _lt(
            "HTTP %(status)s: the server redirects to %(location)s; redirects are not followed (a request "
            "with a body would arrive without it): put the new address in the configuration's URL.",
            status=response.status_code, location=response.headers.get('Location', '?'))
    elif not attempt.ok:
        attempt.error = f"HTTP {response.status_code}: {response.text.strip()[:500]}"
    return attempt


@functools.lru_cache(maxsize=256)
def _environment_settings(origin_url, verify):
    """What Session.request() adds from the environment (proxies, CA bundle), once per origin: it
    reads every environment variable, a sixth of a request's CPU, and the process environment
    does not change under a running server."""
    return session().merge_environment_settings(origin_url, {}, None, verify, None)


def origin(url: str) -> str:
    """``https://host:port/`` of a URL, without credentials."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/"


def network_error(error: requests.RequestException, url: str, timeout: float | tuple[float, float]) -> LazyGettext:
    """What went wrong, as a person would say it: "Connection refused by 127.0.0.1:9"."""
    parts = urlsplit(url)
    address = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    connect, read = timeout if isinstance(timeout, (tuple, list)) else (timeout, timeout)
    if isinstance(error, requests.ConnectTimeout):
        return _lt("No connection to %(address)s within %(seconds)s s", address=address, seconds=_seconds(connect))
    if isinstance(error, requests.ReadTimeout):
        return _lt("No answer from %(address)s within %(seconds)s s", address=address, seconds=_seconds(read))
    if isinstance(error, requests.exceptions.SSLError):
        return _lt("TLS handshake with %(address)s failed: %(reason)s", address=address, reason=_root_text(error))
    cause = _root_cause(error)
    if isinstance(cause, ConnectionRefusedError):
        return _lt("Connection refused by %(address)s", address=address)
    if isinstance(cause, socket.gaierror):
        return _lt("The host name %(host)s could not be resolved", host=parts.hostname)
    if isinstance(cause, (ConnectionResetError, BrokenPipeError)) or 'RemoteDisconnected' in type(cause).__name__:
        return _lt("%(address)s closed the connection before answering", address=address)
    return _lt("No answer from %(address)s: %(reason)s", address=address, reason=_root_text(error))


def _root_cause(error):
    """The innermost exception: requests wraps urllib3's, which wraps the socket's."""
    seen = set()
    while id(error) not in seen:
        seen.add(id(error))
        inner = getattr(error, 'reason', None) or error.__cause__ or error.__context__ \
            or next((arg for arg in getattr(error, 'args', ()) if isinstance(arg, BaseException)), None)
        if not isinstance(inner, BaseException):
            break
        error = inner
    return error


def _root_text(error):
    """The innermost error's own words, without urllib3's object reprs."""
    cause = _root_cause(error)
    text = getattr(cause, 'strerror', None) or str(cause)
    return text.split(': ', 1)[-1] if '<urllib3' in text else text


def _seconds(value):
    return f"{value:g}" if isinstance(value, float) else value


def _retry_after(response):
    value = response.headers.get('Retry-After')
    if not value:
        return None
    try:
        return Retry().parse_retry_after(value)
    except InvalidHeader:
        return None


def _elapsed_ms(started):
    return int((time.monotonic() - started) * 1000)
