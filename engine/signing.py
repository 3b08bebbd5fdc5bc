"""Request signatures following the Standard Webhooks scheme (standardwebhooks.com).

The receiver recomputes ``base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))``
and compares it with ``webhook-signature`` (``v1,<signature>``); the timestamp
lets it refuse replays of old requests.
"""
import base64
import hashlib
import hmac
import time

SECRET_PREFIX = 'whsec_'


def secret_key(secret):
    """A ``whsec_...`` secret carries a base64 key; any other text is used as is."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX):])
    return secret.encode()


def signature(secret, message_id, timestamp, body):
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"v1,{base64.b64encode(digest).decode()}"


def headers(secrets, message_id, body, timestamp=None):
    """The signature headers; with several secrets (during a rotation), one signature each,
    space-separated, so receivers holding either secret can verify."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        'webhook-id': message_id,
        'webhook-timestamp': str(timestamp),
        'webhook-signature': ' '.join(signature(secret, message_id, timestamp, body) for secret in secrets),
    }
