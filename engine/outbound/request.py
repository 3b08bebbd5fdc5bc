"""Finishing a request: the one place a planned delivery becomes the HTTP request sent.

A plan holds the records' payload and the values of the URL placeholders. Here,
at send time, they are joined with the profile: the URL is filled, query
parameters are added, the body is encoded, then the headers: ``User-Agent``,
``Content-Type``, the config's own headers, ``Idempotency-Key``, signatures,
and last the authentication (``engine/shared/auth.py``).
"""
import functools
import re
from urllib.parse import quote, urlencode

import requests
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict

from odoo.modules.module import get_manifest
from odoo.tools.translate import LazyTranslate

from ..shared import signing, transport
from ..shared.payload import to_json_text
from .remote import REMOTE_ID

_lt = LazyTranslate(__name__)

PLACEHOLDER = re.compile(r'\{(\w+)\}')
# Tells the receiver who calls: the addon and its version (the manifest's), then the HTTP library.
USER_AGENT = f"bj_api_sync/{get_manifest('bj_api_sync').get('version', '')} python-requests/{requests.__version__}"


class RequestError(Exception):
    """This request cannot be finished (a placeholder without value, a header that is not Latin-1...)."""


def placeholders(url) -> list[str]:
    return PLACEHOLDER.findall(url or '')


def url_values(url: str, payload: object) -> dict[str, object]:
    """What a plan keeps for the URL: the payload's values of the URL's placeholders ({remote_id}
    is the record's remote id, filled when the request is sent: ``engine/outbound/remote.py``)."""
    if not isinstance(payload, dict):
        return {}
    return {key: payload.get(key) for key in placeholders(url) if key != REMOTE_ID}


def finish(profile, body: object, values: dict | None, key: str) -> requests.PreparedRequest:
    """The ``requests.PreparedRequest`` for one planned delivery; RequestError if it cannot be built.

    ``body`` is the payload (an object, or a list when paginated), ``values`` the placeholder values.
    """
    query = list(profile.params)
    data = None
    if profile.method == 'GET':
        query += [(name, '=', value) for name, value in _query_items(body)]
    else:
        data = to_json_text(body).encode()
    url = fill_placeholders(profile.url, values)
    if query:
        url += ('&' if '?' in url else '?') + _query_string(query)
    own = {'Idempotency-Key': key}
    if profile.signing_secrets:
        own.update(signing.headers(profile.signing_secrets, key, data or b''))
    _check_latin_1(own.items())
    request = _addressed(profile.method, url, profile.headers).copy()
    request.hooks = default_hooks()  # a copy shares its original's: an auth may register one
    request.headers.update(own)
    request.prepare_body(data, None)
    request.prepare_auth(profile.auth, url)
    return request


@functools.lru_cache(maxsize=256)
def _addressed(method, url, config_headers):
    """The request every delivery with this method, URL and headers starts from, with no body or auth
    yet. What ``Session.prepare_request`` works out here (the URL parsed, the session's headers
    merged) is the same for each of them, and about a tenth of a dispatcher's CPU per delivery."""
    headers = CaseInsensitiveDict({'User-Agent': USER_AGENT, 'Content-Type': 'application/json'})
    headers.update(dict(config_headers))
    _check_latin_1(headers.items())
    # An auth that adds nothing: requests then neither reads ~/.netrc nor the URL's credentials, as with
    # the profile's auth, applied to each copy.
    return transport.session().prepare_request(requests.Request(method, url, headers=headers, auth=_as_is))


def _as_is(request):
    return request


def _check_latin_1(headers):
    for name, value in headers:
        try:
            value.encode('latin-1')
        except UnicodeEncodeError:
            raise RequestError(_lt(
                "the value of the header '%(header)s' has characters HTTP headers cannot carry "
                "(only Latin-1 is allowed): write it in ASCII or percent-encode it", header=name)) from None


def check(profile, body: object, values: dict | None) -> None:
    """Raise the RequestError that finishing this plan would raise, without building the request:
    a plan that can never be sent is an error when planned, not when sent."""
    fill_placeholders(profile.url, {**(values or {}), REMOTE_ID: REMOTE_ID})
    if profile.method == 'GET':
        list(_query_items(body))


def fill_placeholders(url: str, values: dict | None) -> str:
    def value_of(match):
        name = match.group(1)
        if not isinstance(values, dict) or values.get(name) in (None, ''):
            raise RequestError(_lt("the URL placeholder {%(name)s} has no value in the payload", name=name))
        return quote(str(values[name]), safe='')
    return PLACEHOLDER.sub(value_of, url)


def _query_items(body):
    """GET sends no body: top-level payload keys become query parameters."""
    if not isinstance(body, dict):
        raise RequestError(_lt("a GET request needs an object payload to build its query string"))
    for name, value in body.items():
        if value is None:
            continue
        if isinstance(value, bool):
            yield name, 'true' if value else 'false'
        elif isinstance(value, list) and all(not isinstance(item, (dict, list)) for item in value):
            for item in value:
                yield name, item
        elif isinstance(value, (dict, list)):
            yield name, to_json_text(value)
        else:
            yield name, value


def _query_string(items):
    """``key<operator>value`` items; an operator other than ``=`` is sent as given."""
    return '&'.join(
        urlencode([(name, value)]) if operator == '=' else f"{quote(str(name))}{operator}{quote(str(value))}"
        for name, operator, value in items
    )
