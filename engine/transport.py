"""The one place that sends HTTP: pooled sessions, timeouts, retries with backoff."""
import dataclasses
import http.cookiejar
import random
import threading
import time

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

# SPEC §6: what is worth another attempt.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
RETRYABLE_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

_local = threading.local()


def session():
    """This thread's pooled session: keep-alive connections are reused across calls."""
    pooled = getattr(_local, 'session', None)
    if pooled is None:
        pooled = requests.Session()
        # Integrations must not share cookies with each other through the pool.
        pooled.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        adapter = HTTPAdapter(pool_connections=16, pool_maxsize=16, max_retries=0)
        pooled.mount('http://', adapter)
        pooled.mount('https://', adapter)
        _local.session = pooled
    return pooled


@dataclasses.dataclass
class HttpRequest:
    method: str
    url: str
    headers: dict
    body: bytes = None


@dataclasses.dataclass
class Attempt:
    """The outcome of one try: a response, or the network error that prevented it."""
    number: int
    duration_ms: int
    status_code: int = None
    response_headers: dict = dataclasses.field(default_factory=dict)
    response_text: str = ''
    error: str = None
    retryable: bool = False
    retry_after: float = None
    log_id: int = None  # set by the caller once the attempt is logged

    @property
    def ok(self):
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclasses.dataclass
class RetryPolicy:
    """Exponential backoff with full jitter; a server's ``Retry-After`` wins, capped."""
    max_retries: int = 3
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    retry_after_max: float = 60.0

    def delay(self, attempt):
        if attempt.retry_after is not None:
            return min(attempt.retry_after, self.retry_after_max)
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt.number - 1))
        return random.uniform(0, ceiling)


def send(request, timeout, policy, on_attempt, sleep=time.sleep):
    """Send ``request``, retrying what SPEC §6 calls retryable; return the last Attempt.

    ``on_attempt(attempt, will_retry)`` is called after every try, so each one
    can be logged before the next begins. Never raises for HTTP or network errors.
    """
    number = 0
    while True:
        number += 1
        attempt = _try_once(request, timeout, number)
        will_retry = attempt.retryable and number <= policy.max_retries
        on_attempt(attempt, will_retry)
        if not will_retry:
            return attempt
        sleep(policy.delay(attempt))


def _try_once(request, timeout, number):
    started = time.monotonic()
    try:
        response = session().request(
            request.method, request.url, data=request.body,
            headers=request.headers, timeout=timeout,
        )
    except requests.RequestException as error:
        return Attempt(
            number=number, duration_ms=_elapsed_ms(started),
            error=f"{type(error).__name__}: {error}",
            retryable=isinstance(error, RETRYABLE_ERRORS),
        )
    return Attempt(
        number=number, duration_ms=_elapsed_ms(started),
        status_code=response.status_code,
        response_headers=dict(response.headers),
        response_text=response.text,
        retryable=response.status_code in RETRYABLE_STATUS,
        retry_after=_retry_after(response),
    )


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
