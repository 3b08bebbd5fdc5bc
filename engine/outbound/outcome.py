"""The one step after every attempt: decide what it means, then log it once.

A verdict is one of the delivery states below. Immediate calls wait and try
again within the call while the verdict is ``RETRY``; the outbox reschedules
the delivery instead (``engine/outbox/dispatcher.py``). Either way the attempt's log row
is written here, once, with its final status.
"""
import dataclasses
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from odoo.tools.translate import LazyGettext

from ..shared.logbook import LogBook, Row, headers_text, row, truncate

if TYPE_CHECKING:
    from requests import PreparedRequest

    from odoo.api import Environment

    from ..shared.transport import Attempt
    from .profile import Backoff, Profile, Schedule

_logger = logging.getLogger(__name__)

# Delivery (bj.api.sync.job) states; the first two are set by the outbox itself.
PENDING = 'pending'
RUNNING = 'running'
DONE = 'done'
RETRY = 'retry'        # failed, another attempt will follow (the job goes back to pending)
FAILED = 'failed'      # refused for good: not worth another attempt
DEAD = 'dead'          # retryable, but no attempt left
UNFINISHED = (PENDING, RUNNING)

# Log status of an attempt with this verdict.
LOG_STATUS = {DONE: 'success', RETRY: 'retry', FAILED: 'error', DEAD: 'error'}


@dataclasses.dataclass
class Verdict:
    state: str
    number: int                 # the attempt's number (1 for the first)
    wait: float | None = None   # RETRY: seconds before the next attempt
    attempt: object = None      # the transport.Attempt, None when no request could be built
    error: str | None = None    # masked and translated; None on success
    log_id: int | None = None


def decide(attempt: 'Attempt', number: int, rule: 'Backoff | Schedule') -> Verdict:
    """The verdict on attempt ``number`` under a retry rule (``profile.Backoff`` or ``profile.Schedule``)."""
    if attempt.ok:
        return Verdict(DONE, number, attempt=attempt)
    if not attempt.retryable:
        return Verdict(FAILED, number, attempt=attempt)
    if number >= rule.max_attempts:
        return Verdict(DEAD, number, attempt=attempt)
    return Verdict(RETRY, number, wait=rule.wait(number, attempt.retry_after), attempt=attempt)


class Outcomes:
    """Writes the log rows of one profile's requests, secrets masked, messages in the profile's language
    (with ``later``, when ``book.flush()`` is called: see ``LogBook``)."""

    def __init__(self, profile: 'Profile', env: 'Environment', later: bool = False) -> None:
        self.profile = profile
        self.env = env(context=dict(env.context, lang=profile.lang))
        self.redactor = profile.redactor()
        self.book = LogBook(self.env, later=later)
        self.log_ids = []

    def text(self, message: str | LazyGettext) -> str:
        """A message (maybe a lazy translation) in the logs' language, secrets masked."""
        if isinstance(message, LazyGettext):
            message = self.env._(message)
        return self.redactor.text(message)

    def title(self, record_ids: list[int]) -> str:
        """'POST res.partner [7]', 'POST res.partner [7, 8, …] (100 records)': names logs and jobs."""
        shown = ', '.join(map(str, record_ids[:5])) + (', …' if len(record_ids) > 5 else '')
        count = f" ({len(record_ids)} records)" if len(record_ids) > 1 else ''
        return f"{self.profile.method} {self.profile.model} [{shown}]{count}"

    def skipped(self, record_ids: list[int], reason: str | LazyGettext, job_id: int | None = None) -> Row:
        return self._write(record_ids, {'status': 'skipped', 'error_message': self.text(reason), 'attempt': 0,
                                        'job_id': job_id})

    def refused(self, record_ids: list[int], message: str | LazyGettext, job_id: int | None = None, number: int = 0,
                status: str = 'error') -> Row:
        """Nothing could be sent (the request could not be built, no credentials): one row."""
        return self._write(record_ids, {
            'status': status, 'error_message': self.text(message), 'attempt': number, 'job_id': job_id})

    def attempted(self, record_ids: list[int], request: 'PreparedRequest', verdict: Verdict, job_id: int | None = None,
                  notes: Iterable[str | LazyGettext] = ()) -> Row:
        """Log one attempt with its verdict; fills ``verdict.error`` and ``verdict.log_id``. ``notes``:
        what a successful answer told that could not be processed (``engine/outbound/remote.py``)."""
        attempt, redact = verdict.attempt, self.redactor
        verdict.error = None if verdict.state == DONE else self.text(attempt.error)
        masked_url = redact.url(request.url)
        log = self._write(record_ids, {
            'job_id': job_id,
            'status': LOG_STATUS[verdict.state],
            'url': masked_url,
            'request_headers': headers_text(redact.headers(request.headers)),
            'request_body': truncate(redact.text(request.body.decode() if request.body else '')),
            'response_status_code': attempt.status_code,
            'response_headers': headers_text(redact.headers(attempt.response_headers)),
            'response_body': truncate(redact.text(attempt.response_text)),
            'error_message': verdict.error or '; '.join(dict.fromkeys(self.text(note) for note in notes)) or None,
            'duration_ms': attempt.duration_ms,
            'attempt': verdict.number,
        })
        verdict.log_id = log.id
        _logger.info("BJ API %s %s -> %s in %d ms (attempt %d, %s)", request.method, masked_url,
                     attempt.status_code or verdict.error, attempt.duration_ms, verdict.number, log.status)
        return log

    def _write(self, record_ids, values):
        values = {'config_id': self.profile.config_id, 'http_method': self.profile.method,
                  'url': self.redactor.url(self.profile.url), 'res_model': self.profile.model, **values}
        log = self.book.write(row(self.title(record_ids), values.pop('status'), record_ids, **values))
        if log.id is not None:  # kept for later (a dispatcher's), it has none yet
            self.log_ids.append(log.id)
        return log
