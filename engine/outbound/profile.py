"""A config read once: the immutable value every later step works from.

Everything a config says about sending is in its ``Profile``: the filter domain and payload script
that planning applies, the URL, headers and auth that finish a request, the retry rules that decide
an outcome, the language of the logs. Finishing, sending and logging take the profile alone, so a
delivery queued now and sent later, in another transaction or process, runs on one consistent
version of its config. Planning also gets the record, for what it reads through the ORM: the
records themselves and the compiled mapping (``_compiled_mapping()``, cached like the profile,
``bj.api.sync.config._outbound_profile()``).
"""
import dataclasses
import datetime
import random
import re
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from requests.utils import get_auth_from_url

from ..shared import auth as auth_types
from ..shared.labels import config_label
from ..shared.logbook import SENSITIVE_HEADER, Redactor
from ..shared.tls import TlsSettings
from .remote import REMOTE_ID, RemoteSettings
from .request import placeholders

if TYPE_CHECKING:
    from odoo.models import BaseModel

DEFAULT_RETRY_SCHEDULE = '1m, 5m, 30m, 2h, 6h, 12h'
RETRY_JITTER = 0.2  # queued waits vary by ±20 % so failed deliveries don't come back in a wave
_UNITS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400}


def parse_schedule(text) -> list[float]:
    """'1m, 5m, 2h' → [60, 300, 7200] seconds; ValueError naming what is wrong."""
    waits = []
    for part in re.split(r'[,\s]+', (text or '').strip()):
        match = re.fullmatch(r'(\d+(?:\.\d+)?)([smhd]?)', part)
        if not match:
            raise ValueError(f"the retry schedule item '{part}' is not a duration such as 30s, 5m, 2h or 1d")
        waits.append(float(match.group(1)) * _UNITS[match.group(2) or 's'])
    return waits


@dataclasses.dataclass(frozen=True)
class Backoff:
    """Immediate calls: retries within the call, exponential backoff with full jitter;
    a server's ``Retry-After`` wins, capped."""
    max_retries: int = 3
    base: float = 1.0
    cap: float = 30.0
    retry_after_max: float = 60.0
    in_process: ClassVar[bool] = True  # the caller waits and tries again itself

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    def as_schedule(self) -> 'Schedule':
        """The same retries, for a delivery a dispatcher makes (an immediate config's captured changes,
        sent right after the commit): the backoff's longest waits, rescheduled rather than slept."""
        return Schedule(tuple(min(self.cap, self.base * 2 ** number) for number in range(self.max_retries)),
                        retry_after_max=self.retry_after_max)

    def wait(self, number: int, retry_after: float | None = None) -> float:
        """Seconds to wait after attempt ``number`` (1-based)."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_max)
        return random.uniform(0, min(self.cap, self.base * 2 ** (number - 1)))


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Queued deliveries: one wait per retry, jittered; never before the server's ``Retry-After``."""
    waits: tuple[float, ...]
    retry_after_max: float = 86400.0
    in_process: ClassVar[bool] = False  # the delivery is rescheduled; a dispatcher tries again later

    @property
    def max_attempts(self) -> int:
        return len(self.waits) + 1

    def wait(self, number: int, retry_after: float | None = None) -> float:
        seconds = self.waits[min(number, len(self.waits)) - 1] * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)
        if retry_after is not None:
            seconds = max(seconds, min(retry_after, self.retry_after_max))
        return seconds


@dataclasses.dataclass(frozen=True)
class Profile:
    """What a config says about sending, read once (secrets included: never store or show it)."""
    config_id: int
    name: str
    active: bool
    model: str
    method: str
    url: str                      # the template: {placeholders}, maybe credentials
    params: tuple                 # (key, operator, value)
    headers: tuple                # (key, value), the config's own headers
    auth: auth_types.Auth
    signing_secrets: tuple        # the current secret, then the previous one while a rotation lasts
    tls: TlsSettings
    timeout: tuple                # (connect, read) seconds
    paginated: bool
    page_size: int
    queued: bool
    backoff: Backoff
    schedule: Schedule
    lang: str
    remote: RemoteSettings
    domain: str = '[]'            # the filter domain, evaluated when records are selected
    payload_script: str = ''

    @property
    def label(self) -> str:
        return config_label(self.name)

    @classmethod
    def read(cls, config: 'BaseModel',  # pylint: disable=method-required-super  # not an Odoo model
             timeout: float | tuple[float, float] | None = None) -> 'Profile':
        """The profile of ``config`` (a superuser record: it reads secrets); ``timeout`` overrides its timeouts."""
        get_param = config.env['ir.config_parameter'].sudo().get_param
        defaults = Backoff()
        backoff = Backoff(
            max_retries=config.max_retries,
            base=float(get_param('bj_api_sync.backoff_base_seconds', defaults.base)),
            cap=float(get_param('bj_api_sync.backoff_max_seconds', defaults.cap)),
            retry_after_max=float(get_param('bj_api_sync.retry_after_max_seconds', defaults.retry_after_max)),
        )
        queued = config.delivery_mode == 'queued'
        return cls(
            config_id=config.id,
            name=config.name,
            active=config.active,
            model=config.model_name,
            method=config.http_method_ids[:1].name or '',
            url=config.url or '',
            params=tuple((param.key, param.operator or '=', param.value or '') for param in config.param_ids),
            headers=tuple((header.key, header.value or '') for header in config.header_ids),
            auth=auth_types.from_config(config),
            signing_secrets=_signing_secrets(config),
            tls=TlsSettings.of(config),
            timeout=_timeouts(config, timeout),
            paginated=config.is_paginated,
            page_size=config.page_size if config.is_paginated else 1,
            queued=queued,
            backoff=backoff,
            # An immediate config's deliveries that a dispatcher sends retry as its Max Retries says.
            schedule=Schedule(tuple(parse_schedule(config.queue_retry_schedule or DEFAULT_RETRY_SCHEDULE)))
            if queued else backoff.as_schedule(),
            # Logs are read by the config's administrators: their language, unless the caller has one.
            lang=config.env.context.get('lang') or config.write_uid.lang or 'en_US',
            remote=RemoteSettings.read(config, REMOTE_ID in placeholders(config.url)),
            domain=config.domain or '[]',
            payload_script=config.python_script or '',
        )

    def redactor(self) -> Redactor:
        """Masks every secret this profile can put in a request."""
        secrets = list(self.signing_secrets)
        secrets.append(self.tls.client_key)
        secrets += [value for key, value in self.headers if SENSITIVE_HEADER.search(key or '')]
        secrets += url_credentials(self.url)
        return Redactor(secrets, more=self.auth.secrets)


def url_credentials(url: str | None) -> list[str]:
    """The password of ``http://user:password@host/`` (as written and decoded) and the
    Basic credentials derived from it: an API may echo them back."""
    userinfo = urlsplit(url or '').netloc.rpartition('@')[0]
    if ':' not in userinfo:
        return []
    login, password = get_auth_from_url(url)
    return [userinfo.partition(':')[2], password,
            auth_types.basic_credentials(login, password)]


def _signing_secrets(config):
    if not config.sign_requests:
        return ()
    rotating = config.signing_secret_previous and config.signing_secret_previous_until \
        and config.signing_secret_previous_until > datetime.datetime.utcnow()
    return (config.signing_secret, config.signing_secret_previous) if rotating else (config.signing_secret,)


def _timeouts(config, timeout):
    """A number overrides the read timeout, a (connect, read) pair overrides both."""
    if timeout is None:
        return (config.connection_timeout, config.read_timeout)
    if isinstance(timeout, (tuple, list)):
        connect, read = timeout
        return (float(connect), float(read))
    return (config.connection_timeout, float(timeout))
