"""Authentication: one ``requests`` auth object per type, applied when a request is finished.

Each type says which of its values are secret (for masking) and may ask for one
more attempt with fresh credentials after a 401. Adding a type means adding a
class here and its key in ``AUTH_TYPES``.
"""
import base64
from urllib.parse import quote_plus

from requests.auth import AuthBase, HTTPBasicAuth
from requests.utils import get_auth_from_url


class Auth(AuthBase):
    """No authentication of its own: credentials written in the URL (``https://user:pw@host``) are used."""

    def __call__(self, request):
        login, password = get_auth_from_url(request.url)
        if login or password:
            return HTTPBasicAuth(login, password)(request)
        return request

    @classmethod
    def from_config(cls, config):
        return cls()

    def secrets(self):
        """Values to mask wherever they could be written (logs, errors, previews)."""
        return []

    def refresh(self):
        """Called after a 401: True when fresh credentials deserve one more attempt."""
        return False


class BasicAuth(Auth):
    """``Authorization: Basic base64(login:password)``; wins over credentials in the URL."""

    def __init__(self, login, password):
        self.login = login or ''
        self.password = password or ''

    @classmethod
    def from_config(cls, config):
        return cls(config.auth_login, config.auth_password)

    def __call__(self, request):
        return HTTPBasicAuth(self.login, self.password)(request)

    def secrets(self):
        encoded = base64.b64encode(f"{self.login}:{self.password}".encode('latin1', 'replace')).decode()
        return [self.password, encoded]


class BearerAuth(Auth):
    """``Authorization: Bearer <token>``."""

    def __init__(self, token):
        self.token = token or ''

    @classmethod
    def from_config(cls, config):
        return cls(config.bearer_token)

    def __call__(self, request):
        request.headers['Authorization'] = f"Bearer {self.token}"
        return request

    def secrets(self):
        return [self.token]


class ApiKeyAuth(Auth):
    """A key in a header (``X-API-Key: <key>``) or in the query string (``?api_key=<key>``)."""

    def __init__(self, name, value, location='header'):
        self.name = name or 'X-API-Key'
        self.value = value or ''
        self.location = location or 'header'

    @classmethod
    def from_config(cls, config):
        return cls(config.api_key_name, config.api_key_value, config.api_key_location)

    def __call__(self, request):
        if self.location == 'query':
            request.prepare_url(request.url, {self.name: self.value})
        else:
            request.headers[self.name] = self.value
        return request

    def secrets(self):
        # As written, and as it appears percent-encoded in a URL.
        return [self.value, quote_plus(self.value)]


AUTH_TYPES = {
    'none': Auth,
    'basic': BasicAuth,
    'bearer': BearerAuth,
    'api_key': ApiKeyAuth,
}


def from_config(config):
    """The auth object of a config (read as superuser: it holds secrets)."""
    return AUTH_TYPES[config.auth_type or 'none'].from_config(config)
