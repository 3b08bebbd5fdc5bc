"""Request signatures following the Standard Webhooks scheme (standardwebhooks.com).

The receiver recomputes ``base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))``
and compares it with ``webhook-signature`` (``v1,<signature>``); the timestamp
lets it refuse replays of old requests. Outbound requests are signed with
``headers()``; inbound endpoints check theirs with ``verify()``.
"""
import base64
import hashlib
import hmac
import time
from collections.abc import Iterable

from odoo.tools.translate import LazyTranslate

_lt = LazyTranslate(__name__)

SECRET_PREFIX = 'whsec_'
TOLERANCE = 300  # seconds a signed request stays valid, either side of the server's clock


class SignatureError(Exception):
    """An inbound request's signature is missing, expired or wrong; the message says which."""


def secret_key(secret: str) -> bytes:
    """A ``whsec_...`` secret carries a base64 key; any other text is used as is."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX):])
    return secret.encode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"v1,{base64.b64encode(digest).decode()}"


def headers(secrets: Iterable[str], message_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The signature headers; with several secrets (during a rotation), one signature each,
    space-separated, so receivers holding either secret can verify."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        'webhook-id': message_id,
        'webhook-timestamp': str(timestamp),
        'webhook-signature': ' '.join(signature(secret, message_id, timestamp, body) for secret in secrets),
    }


def verify(secrets: Iterable[str], headers, body: bytes, now: float | None = None) -> None:
    """Check a signed request (``headers``: a case-insensitive mapping); SignatureError if it fails.

    Any one of the space-separated signatures made with any of ``secrets`` is enough, so a sender
    may sign with two secrets while rotating them.
    """
    message_id, timestamp, signatures = (headers.get(name) for name in HEADERS)
    if not (message_id and timestamp and signatures):
        raise SignatureError(_lt("the request is not signed: webhook-id, webhook-timestamp and webhook-signature "
                                 "are required"))
    try:
        timestamp = int(timestamp)
    except ValueError:
        raise SignatureError(_lt("webhook-timestamp is not a Unix time")) from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > TOLERANCE:
        raise SignatureError(_lt("the signature has expired: webhook-timestamp is more than %(minutes)s minutes "
                                 "away from the server's clock", minutes=TOLERANCE // 60))
    expected = [signature(secret, message_id, timestamp, body) for secret in secrets if secret]
    if not any(hmac.compare_digest(given.encode(), wanted.encode())
               for given in signatures.split() for wanted in expected):
        raise SignatureError(_lt("the signature does not match the request"))


HEADERS = ('webhook-id', 'webhook-timestamp', 'webhook-signature')
