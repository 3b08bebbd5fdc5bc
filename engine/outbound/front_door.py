"""The engine's front door: every caller sends through an ``Outbound``.

The entry point, scheduled syncs, automation rules (after commit), the outbox
dispatcher and Preview / Send Test all do the same three things through it:

1. ``Outbound(config)`` reads the config once into a ``Profile``;
2. ``plan()`` selects the records and builds their payloads (``engine/outbound/planning.py``);
3. ``deliver()`` sends now, ``enqueue()`` stores deliveries for the outbox, and
   both send one request through ``send()``: finish the request
   (``engine/outbound/request.py``), one HTTP attempt (``engine/shared/transport.py``), the
   verdict and its log row (``engine/outbound/outcome.py``).
"""
import dataclasses
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import requests

from odoo.exceptions import UserError

from ..shared import transport
from ..shared.auth import AuthError
from ..shared.payload import MappingError
from . import jobs
from .outcome import DONE, FAILED, LOG_STATUS, RETRY, Outcomes, Verdict, decide
from .planning import Planned, Planner
from .profile import Backoff, Profile, Schedule
from .remote import GONE_ON_DELETE, RemoteIds
from .request import RequestError, url_values
from .request import finish as finish_request

if TYPE_CHECKING:
    from odoo.models import BaseModel


@dataclasses.dataclass(frozen=True)
class Route:
    """Where a planned delivery goes (``Outbound.route``): ``item`` sent by ``sender``, or skipped."""
    item: Planned
    sender: 'Outbound'            # this config's front door, or its fallback's
    skipped: object = None        # why nothing is sent
    via_fallback: bool = False


class Outbound:
    """One config's sending, read once (or given as ``profile``, read earlier). ``config`` is a
    superuser record (it reads secrets). With ``log_later``, log rows are written together by
    ``outcomes.book.flush()``."""

    sleep = staticmethod(time.sleep)  # between the attempts of an immediate call

    def __init__(self, config: 'BaseModel', timeout: float | tuple[float, float] | None = None,
                 profile: Profile | None = None, log_later: bool = False) -> None:
        self.profile = profile or (Profile.read(config, timeout) if timeout else config._outbound_profile())
        self.planner = Planner(config, self.profile)
        self.outcomes = Outcomes(self.profile, config.env, later=log_later)
        self.remote = RemoteIds(self.profile, config.env)
        self.config = config
        self._fallback = None

    # Planning ----------------------------------------------------------------------------

    def plan(self, records: 'BaseModel', snapshots: dict[int, dict] | None = None, in_domain: bool = False,
             existing: 'BaseModel | None' = None) -> Iterator[Planned]:
        """The planned deliveries of ``records`` (see ``Planner.plan``)."""
        return self.planner.plan(records, snapshots=snapshots, in_domain=in_domain, existing=existing)

    def plan_or_raise(self, records: 'BaseModel', in_domain: bool = False) -> Iterator[Planned]:
        """``plan()`` for a direct call: a broken mapping is a configuration error, logged and raised."""
        try:
            return self.plan(records, in_domain=in_domain)
        except MappingError as error:
            self.outcomes.refused(records.ids, str(error))
            raise UserError(str(error)) from None

    # Sending -----------------------------------------------------------------------------

    def call(self, records: 'BaseModel', queued: bool | None = None, in_domain: bool = False) -> dict:
        """A direct call: plan ``records``, then send them now or store them in the outbox; the result dict."""
        planned = self.plan_or_raise(records, in_domain=in_domain)
        queued = self.profile.queued if queued is None else queued
        return self.enqueue(planned) if queued else self.deliver(planned)

    def enqueue(self, planned: Iterable[Planned], wake: bool = True) -> dict:
        """Store the planned deliveries in the outbox, in the current transaction; the result dict.
        Without ``wake``, the caller dispatches them itself (``engine/outbox/eager.py``)."""
        return jobs.enqueue(self, planned, wake=wake)

    def deliver(self, planned: Iterable[Planned], rule: Backoff | Schedule | None = None,
                result: dict | None = None) -> dict:
        """Send the planned deliveries now, retrying under ``rule`` (the config's backoff); the result
        dict (``result``, when given, goes on collecting). The log rows are written a batch at a time."""
        result = result or self.result()
        with self.outcomes.book.batch():
            for item in planned:
                if self.settle(item, result):
                    continue
                route = self.route(item)
                sender = route.sender
                if route.skipped:
                    sender.settle(dataclasses.replace(route.item, skipped=route.skipped), result)
                    continue
                verdict = sender.send(route.item, str(uuid.uuid4()), rule or sender.profile.backoff)
                response = _parsed(verdict.attempt.response_text) if verdict.attempt else None
                self.report(result, route.item, verdict, response)
                if verdict.attempt:
                    result.update(status_code=verdict.attempt.status_code, response=response)
        return result

    def route(self, item: Planned, fallback: 'Outbound | None' = None) -> 'Route':
        """Where ``item`` goes, the one rule of the immediate path, the dispatcher and the preview:
        sent by this config with ``{remote_id}`` filled; skipped, and why; or, for a record without a
        remote id, sent through the fallback config (``fallback``, by default ``self.fallback()``) with
        the same payload at the fallback's URL, the payload built for this delivery whatever the mode."""
        resolved, skipped, via_fallback = self.remote.resolve(item)
        if not via_fallback:
            return Route(resolved, self, skipped)
        sender = fallback or self.fallback()
        resolved, skipped, _further = sender.remote.resolve(dataclasses.replace(
            resolved, url_values=url_values(sender.profile.url, resolved.body)))
        return Route(resolved, sender, skipped, via_fallback=True)

    def send(self, item: Planned, key: str, rule: Backoff | Schedule, job_id: int | None = None,
             number: int = 1) -> Verdict:
        """Send one planned delivery as attempt ``number`` (and the next ones while the rule retries
        in process); each attempt is decided and logged once. Returns the last Verdict."""
        refreshed = False
        while True:
            try:
                request = self.finish(item, key)
            except (RequestError, AuthError) as error:
                verdict = self.not_sent(item, error, number, rule, job_id)
            else:
                attempt = transport.send(request, self.profile.timeout, self.profile.tls)
                verdict = self.answered(item, request, attempt, number, rule, job_id, refreshed)
                if verdict is None:
                    refreshed = True
                    continue
            if verdict.state != RETRY or not rule.in_process:
                return verdict
            self.sleep(verdict.wait)
            number += 1

    def not_sent(self, item: Planned, error: RequestError | AuthError, number: int, rule: Backoff | Schedule,
                 job_id: int | None = None) -> Verdict:
        """The verdict, logged, on attempt ``number`` when ``finish()`` raised ``error``."""
        if isinstance(error, RequestError):
            log = self.outcomes.refused(item.record_ids, error.args[0], job_id=job_id, number=number)
            return Verdict(FAILED, number, error=log.error_message, log_id=log.id)
        # No credentials, nothing sent; an endpoint that is down is retried like the API itself.
        verdict = decide(transport.Attempt(0, error=error.args[0], retryable=error.retryable), number, rule)
        log = self.outcomes.refused(item.record_ids, error.args[0], job_id=job_id, number=number,
                                    status=LOG_STATUS[verdict.state])
        verdict.error, verdict.log_id, verdict.attempt = log.error_message, log.id, None
        return verdict

    def answered(self, item: Planned, request: requests.PreparedRequest, attempt: transport.Attempt, number: int,
                 rule: Backoff | Schedule, job_id: int | None = None, refreshed: bool = False) -> Verdict | None:
        """The verdict, logged, on an ``attempt`` made with ``request``; None when the auth renewed its
        credentials after a 401 and the request deserves one more try (not counted as a retry)."""
        if attempt.status_code == 401 and not refreshed and self.profile.auth.refresh():
            self.outcomes.attempted(item.record_ids, request, Verdict(RETRY, number, attempt=attempt), job_id)
            return None
        if self.profile.method == 'DELETE' and attempt.status_code in GONE_ON_DELETE:
            verdict = Verdict(DONE, number, attempt=attempt)  # already gone: what the DELETE wanted
        else:
            verdict = decide(attempt, number, rule)
        notes = self.remote.learn(item, attempt) if verdict.state == DONE else ()
        self.outcomes.attempted(item.record_ids, request, verdict, job_id, notes=notes)
        return verdict

    def fallback(self) -> 'Outbound':
        """The front door of the fallback config: records without a remote id go through it."""
        if self._fallback is None:
            config = self.config.browse(self.profile.remote.fallback_config_id)
            self._fallback = Outbound(config)
        return self._fallback

    def finish(self, item: Planned, key: str) -> requests.PreparedRequest:
        """The request ``item`` is sent as, secrets in clear (show it through ``outcomes.redactor``)."""
        return finish_request(self.profile, item.body, item.url_values, key)

    def test_authentication(self) -> tuple[bool, str]:
        """Test Authentication: get an OAuth2 token, or complete a TLS handshake, sending no record.
        Returns (success, message)."""
        auth = self.profile.auth
        try:
            expires_at = auth.renew()  # an auth type that issues tokens gets one; the others, None
            if expires_at:
                return True, self.outcomes.env._(
                    "A token was issued; it expires at %(date)s (UTC).", date=expires_at.replace(microsecond=0))
            origin = transport.origin(self.profile.url)
            response = transport.session(self.profile.tls).head(
                origin, timeout=self.profile.timeout, allow_redirects=False, verify=self.profile.tls.verify)
            return True, self.outcomes.env._("TLS handshake with %(origin)s succeeded (HTTP %(status)s to HEAD /).",
                                             origin=origin, status=response.status_code)
        except AuthError as error:
            return False, self.outcomes.text(error.args[0])
        except requests.RequestException as error:
            return False, self.outcomes.text(transport.network_error(error, origin, self.profile.timeout))

    # Results -----------------------------------------------------------------------------

    def result(self, **extra: object) -> dict:
        return {'success': True, 'status_code': None, 'response': None, 'log_ids': self.outcomes.log_ids,
                'errors': [], 'requests': [], 'skipped_ids': [], **extra}

    def settle(self, item: Planned, result: dict) -> bool:
        """Log a planned skip or error into ``result``; True when ``item`` has nothing to send."""
        if item.skipped:
            self.outcomes.skipped(item.record_ids, item.skipped)
            result['skipped_ids'].extend(item.record_ids)
            return True
        if item.error:
            log = self.outcomes.refused(item.record_ids, item.error)
            self.report(result, item, Verdict(FAILED, 0, error=log.error_message, log_id=log.id), None)
            return True
        return False

    def report(self, result: dict, item: Planned, verdict: Verdict, response: object) -> None:
        attempt = verdict.attempt
        result['requests'].append({
            'record_ids': item.record_ids, 'success': verdict.state == DONE,
            'status_code': attempt.status_code if attempt else None, 'response': response,
            'attempts': verdict.number, 'error': verdict.error, 'log_id': verdict.log_id,
        })
        if verdict.state != DONE:
            result['success'] = False
            result['errors'].append(verdict.error)

    def single_attempt(self) -> Backoff:
        """The retry rule of Send Test: one attempt, no retry."""
        return dataclasses.replace(self.profile.backoff, max_retries=0)


def _parsed(text):
    if not text:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
