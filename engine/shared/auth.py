"""Authentication: one class per type, the one place that knows what a type does, end to end.

A type's class reads its values from the config (``from_config()``) and checks them when the config
is saved (``check()``). Outbound it is a ``requests`` auth object, applied when a request is finished
(``__call__``); it says which values are secret (``secrets()``, for masking), may ask for one more
attempt with fresh credentials after a 401 (``refresh()``) and, for a type that fetches tokens, names
the cached one (``token_key()``) and fetches one on demand (``renew()``, Test Authentication). Inbound
it checks the credentials a request carries (``verify()``), names the scheme a refused client must
use (``challenge()``) and the query parameters that are credentials, not filters
(``query_parameters()``), gives the OpenAPI security scheme (``security_scheme()``, or
``openapi_security()`` for more than one) and the curl arguments of the form's examples, with
placeholders instead of secrets (``curl_arguments()``); a type that cannot guard an endpoint says
why (``inbound_refusal()``). Nothing outside this module tells one type from another (the form
only shows each type's fields).

Adding a type:

1. its class here, a subclass of ``Auth`` (which sends nothing of its own and lets anyone in)
   overriding what differs, with the config fields it reads in ``CONFIG_FIELDS`` (a change to one
   runs ``check()`` again and recomputes the curl examples);
2. its key in ``AUTH_TYPES``;
3. on ``bj.api.sync.config`` (``models/bj_api_sync_config.py``), the same key in ``auth_type``'s
   selection, and the fields it reads (secrets as ``Secret`` fields, readable by administrators only);
4. in the form (``views/bj_api_sync_config_views.xml``), those fields, shown for that type.

``tests/test_auth_plugin.py`` adds a type this way, for its tests only.
"""
import base64
import binascii
import datetime
import hashlib
import hmac
from urllib.parse import quote_plus

import requests
from requests.auth import AuthBase, HTTPBasicAuth
from requests.utils import get_auth_from_url

from odoo.tools.translate import LazyTranslate

from ... import compat
from . import transport
from .tls import TlsSettings

_lt = LazyTranslate(__name__)


def basic_credentials(login: str, password: str) -> str:
    """The token of ``Authorization: Basic <token>`` (as requests builds it): a secret to mask wherever
    the login and password are."""
    return base64.b64encode(f"{login}:{password}".encode('latin1', 'replace')).decode()


class AuthError(Exception):
    """No credentials could be had (an OAuth2 token endpoint refused or did not answer): nothing is sent."""

    def __init__(self, message, retryable=False):
        super().__init__(message)
        self.retryable = retryable


class Auth(AuthBase):
    """No authentication of its own: credentials written in the URL (``https://user:pw@host``) are used.
    Inbound, anyone may call the endpoint."""

    CONFIG_FIELDS = ()  # the config fields the type reads (besides auth_type)

    def __call__(self, request):
        login, password = get_auth_from_url(request.url)
        if login or password:
            return HTTPBasicAuth(login, password)(request)
        return request

    @classmethod
    def from_config(cls, config):
        """The auth object of ``config`` (a superuser record: it holds secrets)."""
        return cls()

    @classmethod
    def check(cls, config):
        """When a config is saved: what is wrong with its values for this type, or None. A message is
        raised through ``env._()``: an ``_lt()`` term is translated."""
        return None

    @classmethod
    def inbound_refusal(cls, config):
        """When an inbound config is saved: why this type cannot guard an endpoint (a message, as for
        ``check()``), or None when it can."""
        return None

    def secrets(self):
        """Values to mask wherever they could be written (logs, errors, previews)."""
        return []

    def refresh(self):
        """Called after a 401: True when fresh credentials deserve one more attempt."""
        return False

    def verify(self, headers, query):
        """Inbound: do the request's ``headers`` and ``query`` parameters carry these credentials?"""
        return True

    def challenge(self, realm):
        """Inbound: the ``WWW-Authenticate`` value of a 401."""
        return f'Basic realm="{realm}"'

    def query_parameters(self):
        """Inbound: the query parameters that carry credentials (they filter no list)."""
        return ()

    def security_scheme(self):
        """Inbound: the OpenAPI ``components.securitySchemes`` entry of these credentials ({}: none)."""
        return {}

    def openapi_security(self, name):
        """Inbound: the OpenAPI ``securitySchemes`` entries these credentials add, named from ``name``,
        and the ``security`` requirement of the operations; ({}, None) for an open endpoint."""
        scheme = self.security_scheme()
        return ({name: scheme}, [{name: []}]) if scheme else ({}, None)

    def curl_arguments(self):
        """Inbound: what the curl examples add for these credentials, with placeholders for secrets:
        (curl words, ``name=VALUE`` for the query string or '')."""
        return [], ''

    def token_key(self):
        """The key of the token these credentials keep in ``bj.api.sync.token``, or None."""
        return None

    def renew(self):
        """Test Authentication: fetch fresh credentials now and return when they expire (AuthError if
        refused); None for a type that fetches none."""
        return None


class BasicAuth(Auth):
    """``Authorization: Basic base64(login:password)``; wins over credentials in the URL."""

    CONFIG_FIELDS = ('auth_login', 'auth_password')

    def __init__(self, login, password):
        self.login = login or ''
        self.password = password or ''

    @classmethod
    def from_config(cls, config):
        return cls(config.auth_login, config.auth_password)

    def __call__(self, request):
        return HTTPBasicAuth(self.login, self.password)(request)

    def secrets(self):
        encoded = basic_credentials(self.login, self.password)
        return [self.password, encoded]

    def verify(self, headers, query):
        credentials = authorization(headers, 'Basic')
        try:
            login, _sep, password = base64.b64decode(credentials or '', validate=True).decode().partition(':')
        except (binascii.Error, UnicodeDecodeError):
            return False
        # Both compared whatever the first gives, so the time taken tells nothing.
        return bool(self.password) & same(login, self.login) & same(password, self.password)

    def challenge(self, realm):
        return f'Basic realm="{realm}", charset="UTF-8"'

    def security_scheme(self):
        return {'type': 'http', 'scheme': 'basic'}

    def curl_arguments(self):
        return ['-u', f"{self.login or 'LOGIN'}:PASSWORD"], ''


class BearerAuth(Auth):
    """``Authorization: Bearer <token>``."""

    CONFIG_FIELDS = ('bearer_token',)

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

    def verify(self, headers, query):
        return bool(self.token) and same(authorization(headers, 'Bearer') or '', self.token)

    def challenge(self, realm):
        return f'Bearer realm="{realm}"'

    def security_scheme(self):
        return {'type': 'http', 'scheme': 'bearer'}

    def curl_arguments(self):
        return ['-H', 'Authorization: Bearer TOKEN'], ''


class ApiKeyAuth(Auth):
    """A key in a header (``X-API-Key: <key>``) or in the query string (``?api_key=<key>``)."""

    CONFIG_FIELDS = ('api_key_name', 'api_key_value', 'api_key_location')

    def __init__(self, name, value, location='header'):
        self.name = name or 'X-API-Key'
        self.value = value or ''
        self.location = location or 'header'

    @classmethod
    def from_config(cls, config):
        return cls(config.api_key_name, config.api_key_value, config.api_key_location)

    @classmethod
    def check(cls, config):
        name = (config.api_key_name or '').strip()
        if not name or any(char in name for char in ' :\r\n'):
            return _lt('%(config)s: the API key name "%(name)s" is not a valid header or parameter name.',
                       config=config._label(), name=name)
        return None

    def __call__(self, request):
        if self.location == 'query':
            request.prepare_url(request.url, {self.name: self.value})
        else:
            request.headers[self.name] = self.value
        return request

    def secrets(self):
        # As written, and as it appears percent-encoded in a URL.
        return [self.value, quote_plus(self.value)]

    def verify(self, headers, query):
        given = query.get(self.name) if self.location == 'query' else headers.get(self.name)
        return bool(self.value) and same(given or '', self.value)

    def challenge(self, realm):
        return f'ApiKey realm="{realm}", {self._where()}="{self.name}"'

    def query_parameters(self):
        return (self.name,) if self.location == 'query' else ()

    def security_scheme(self):
        return {'type': 'apiKey', 'name': self.name, 'in': self._where()}

    def curl_arguments(self):
        if self.location == 'query':
            return [], f"{self.name}=API_KEY"
        return ['-H', f"{self.name}: API_KEY"], ''

    def _where(self):
        return 'query' if self.location == 'query' else 'header'


class OAuth2Auth(Auth):
    """OAuth2 client credentials (RFC 6749 §4.4): ``Authorization: Bearer <access token>``.

    The token is cached in the database (``bj.api.sync.token``) and used by every request,
    transaction, worker and server until shortly before it expires. A worker that needs a
    new one locks the cache row first, so one fetches while the others wait and then use it.
    """
    EXPIRY_MARGIN = datetime.timedelta(seconds=60)  # renewed this long before it expires
    DEFAULT_LIFETIME = 3600                          # when the endpoint gives no expires_in
    CONFIG_FIELDS = ('oauth2_token_url', 'oauth2_client_id', 'oauth2_client_secret', 'oauth2_scope',
                     'oauth2_audience', 'oauth2_client_auth')

    def __init__(self, registry, token_url, client_id, client_secret, scope=None, audience=None,
                 client_auth='basic', timeout=(5, 15), tls=None):
        self.registry = registry
        self.token_url = token_url or ''
        self.client_id = client_id or ''
        self.client_secret = client_secret or ''
        self.scope = scope or None
        self.audience = audience or None
        self.client_auth = client_auth or 'basic'
        self.timeout = timeout
        self.tls = tls
        self.token = None
        self.expires_at = None
        self.key = hashlib.sha256('\0'.join(
            (self.token_url, self.client_id, self.scope or '', self.audience or '')).encode()).hexdigest()

    @classmethod
    def from_config(cls, config):
        return cls(config.env.registry, config.oauth2_token_url, config.oauth2_client_id,
                   config.oauth2_client_secret, config.oauth2_scope, config.oauth2_audience,
                   config.oauth2_client_auth, (config.connection_timeout, config.read_timeout),
                   TlsSettings.of(config))

    @classmethod
    def check(cls, config):
        url = (config.oauth2_token_url or '').strip()
        if not url.startswith(('http://', 'https://')) or not config.oauth2_client_id:
            return _lt('%(config)s: OAuth2 needs an http:// or https:// token URL and a client ID.',
                       config=config._label())
        return None

    @classmethod
    def inbound_refusal(cls, config):
        return _lt('%(config)s: an inbound endpoint takes no OAuth2; choose None, Basic Auth, '
                   'Bearer Token or API Key.', config=config._label())

    def __call__(self, request):
        if self.token is None or self._expiring(self.expires_at):
            self.token, self.expires_at = self._cached_or_fetched(stale=None)
        request.headers['Authorization'] = f"Bearer {self.token}"
        return request

    def secrets(self):
        basic = basic_credentials(self.client_id, self.client_secret)
        return [self.client_secret, quote_plus(self.client_secret), basic, self.token]

    def verify(self, headers, query):
        return False  # an inbound endpoint cannot issue tokens (inbound_refusal)

    def challenge(self, realm):
        return f'Bearer realm="{realm}"'

    def token_key(self):
        return self.key if self.token_url else None

    def refresh(self):
        """After a 401: a new token, unless another worker already renewed the one refused."""
        try:
            self.token, self.expires_at = self._cached_or_fetched(stale=self.token)
        except AuthError:
            return False
        return True

    def _expiring(self, expires_at):
        return not expires_at or expires_at - self.EXPIRY_MARGIN <= datetime.datetime.utcnow()

    def renew(self):
        """A new token from the endpoint whatever the cache holds (Test Authentication); AuthError if refused."""
        self.token, self.expires_at = self._cached_or_fetched(stale=None, force=True)
        return self.expires_at

    def _cached_or_fetched(self, stale, force=False):
        """The cached token if it is fresh (and not ``stale``), else a new one, stored for everyone."""
        with self.registry.cursor() as cr:
            # A worker waiting on the lock must then see the token the other one stored.
            compat.read_committed(cr)
            cr.execute("""INSERT INTO bj_api_sync_token (key, token_url, create_uid, write_uid, create_date, write_date)
                          VALUES (%s, %s, 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
                          ON CONFLICT (key) DO NOTHING""", [self.key, self.token_url])
            cr.execute("SELECT access_token, expires_at FROM bj_api_sync_token WHERE key = %s FOR UPDATE", [self.key])
            token, expires_at = cr.fetchone()
            if token and token != stale and not force and not self._expiring(expires_at):
                return token, expires_at
            token, expires_at = self._fetch()
            cr.execute("""UPDATE bj_api_sync_token SET access_token = %s, expires_at = %s,
                                 write_date = now() AT TIME ZONE 'UTC' WHERE key = %s""",
                       [token, expires_at, self.key])
            return token, expires_at

    def _fetch(self):
        data = {'grant_type': 'client_credentials'}
        if self.scope:
            data['scope'] = self.scope
        if self.audience:
            data['audience'] = self.audience
        credentials = None
        if self.client_auth == 'body':
            data.update(client_id=self.client_id, client_secret=self.client_secret)
        else:
            credentials = HTTPBasicAuth(self.client_id, self.client_secret)
        try:
            response = transport.session(self.tls).post(
                self.token_url, data=data, auth=credentials, timeout=self.timeout, allow_redirects=False,
                headers={'Accept': 'application/json'}, verify=self.tls.verify if self.tls else True)
        except requests.RequestException as error:
            raise AuthError(_lt("OAuth2 token endpoint: %(error)s", error=transport.network_error(
                error, self.token_url, self.timeout)), retryable=True) from None
        answer = response.text.strip()[:500]
        if not 200 <= response.status_code < 300:
            raise AuthError(_lt("The OAuth2 token endpoint %(url)s answered HTTP %(status)s: %(answer)s",
                                url=self.token_url, status=response.status_code, answer=answer),
                            retryable=response.status_code in transport.RETRYABLE_STATUS)
        try:
            token = response.json()
            access_token, lifetime = token['access_token'], int(token.get('expires_in') or self.DEFAULT_LIFETIME)
        except (ValueError, KeyError, TypeError):
            raise AuthError(_lt("The OAuth2 token endpoint %(url)s gave no access_token: %(answer)s",
                                url=self.token_url, answer=answer)) from None
        return access_token, datetime.datetime.utcnow() + datetime.timedelta(seconds=lifetime)


def authorization(headers, scheme):
    """Inbound: what follows ``scheme`` in the Authorization header, or None."""
    given, _sep, credentials = (headers.get('Authorization') or '').partition(' ')
    return credentials.strip() if given.lower() == scheme.lower() else None


def same(given, expected):
    """Constant-time comparison, so a near miss takes as long as a wild guess."""
    return hmac.compare_digest(given.encode(), (expected or '').encode())


AUTH_TYPES = {
    'none': Auth,
    'basic': BasicAuth,
    'bearer': BearerAuth,
    'api_key': ApiKeyAuth,
    'oauth2': OAuth2Auth,
}


def type_of(config):
    """The class of a config's auth type."""
    return AUTH_TYPES[config.auth_type or 'none']


def from_config(config):
    """The auth object of a config (read as superuser: it holds secrets)."""
    return type_of(config).from_config(config)


def config_fields():
    """The config fields any auth type reads, ``auth_type`` first."""
    return ('auth_type', *sorted({name for kind in AUTH_TYPES.values() for name in kind.CONFIG_FIELDS}))
