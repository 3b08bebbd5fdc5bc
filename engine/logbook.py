"""The one place that writes ``bj.api.log`` rows, with every secret masked.

Rows are created in the caller's transaction, so the caller sees them at once
(``result['log_ids']``). If that transaction is rolled back, the rows are
written again in a transaction of their own: an HTTP call that happened is
never forgotten.
"""
import dataclasses
import json
import logging
import re
import zlib

from odoo import SUPERUSER_ID, api

_logger = logging.getLogger(__name__)

MASK = '***'
MAX_TEXT_LENGTH = 64 * 1024
SENSITIVE_HEADER = re.compile(r'authorization|cookie|token|secret|password|passwd|api[-_]?key|signature', re.I)
_ROLLBACK_KEY = 'bj_api_sync.logs'
# Most of a row's size; once inserted they are not kept in the transaction's cache too.
_BULKY_FIELDS = ['request_headers', 'request_body', 'response_headers', 'response_body']


class Redactor:
    """Masks known secret values wherever they appear in text written to a log."""

    def __init__(self, secrets=(), more=None):
        self.known = list(secrets)
        # Secrets learnt while sending (an OAuth2 access token), asked for each time.
        self.more = more
        self._sorted = (None, [])

    @property
    def secrets(self):
        learnt = tuple(self.more()) if self.more else ()
        if self._sorted[0] != learnt:
            # Longest first, so a secret containing another is masked whole. Sorted again only
            # when the learnt secrets change, not for every text masked.
            secrets = {s for s in self.known + list(learnt) if s and len(s) >= 4}
            self._sorted = (learnt, sorted(secrets, key=len, reverse=True))
        return self._sorted[1]

    def text(self, text):
        if not text:
            return text
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def headers(self, headers):
        return {key: self._header(key, value) for key, value in headers.items()}

    def _header(self, key, value):
        if not SENSITIVE_HEADER.search(key):
            return self.text(value)
        scheme, _, credentials = value.partition(' ')
        # Keep "Basic"/"Bearer" visible: it tells which auth was sent.
        return f"{scheme} {MASK}" if credentials and scheme.isalpha() else MASK

    def url(self, url):
        return self.text(re.sub(r'(?<=://)[^/@\s]+@', f'{MASK}@', url or ''))


def truncate(text, limit=MAX_TEXT_LENGTH):
    if text and len(text) > limit:
        return f"{text[:limit]}\n… [{len(text) - limit} more characters not kept]"
    return text


def headers_text(headers):
    return json.dumps(headers, indent=2, ensure_ascii=False, sort_keys=True)


@dataclasses.dataclass
class LaterRow:
    """A log row ``LogBook.write`` left for ``flush()``: what callers read of a row, without its id."""
    status: str
    error_message: str = None
    id: int = None


class LogBook:
    """Writes log rows; with ``later``, keeps them for one ``flush()`` (a dispatcher writes the rows of
    the attempts it concludes together, in one INSERT)."""

    def __init__(self, env, later=False):
        self.env = env(su=True)
        self.later = [] if later else None

    def write(self, values):
        """Create one log row (or keep it for ``flush()``); it is written again if the transaction rolls back."""
        if self.later is not None:
            self.later.append(values)
            return LaterRow(values['status'], values.get('error_message'))
        log = self.env['bj.api.log'].create(values)
        # A sync of many pages writes many rows in one transaction: memory must not grow with them.
        log.invalidate_recordset(_BULKY_FIELDS)
        _keep_for_rollback(self.env, values)
        return log

    def flush(self):
        """Write the rows kept for later."""
        if self.later:
            logs = self.env['bj.api.log'].create(self.later)
            logs.invalidate_recordset(_BULKY_FIELDS)
            for values in self.later:
                _keep_for_rollback(self.env, values)
            self.later.clear()


def _keep_for_rollback(env, values):
    cr = env.cr
    pending = cr.postrollback.data.get(_ROLLBACK_KEY)
    if pending is None:
        pending = cr.postrollback.data[_ROLLBACK_KEY] = []
        registry = env.registry
        cr.postrollback.add(lambda: _write_again(registry, pending))
    # Compressed (bodies are JSON, ~10x smaller): kept until the transaction ends.
    pending.append(zlib.compress(json.dumps(values).encode(), 1))


def _write_again(registry, rows):
    rows = [json.loads(zlib.decompress(row)) for row in rows]
    try:
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            config_ids = {row['config_id'] for row in rows if row.get('config_id')}
            # A config created in the rolled-back transaction is gone: keep the row, unlinked.
            existing = set(env['bj.api.sync.config'].browse(config_ids).exists().ids)
            env['bj.api.log'].create([
                {**row, 'config_id': row.get('config_id') if row.get('config_id') in existing else False}
                for row in rows
            ])
    except Exception:
        _logger.exception("BJ API: %d log rows of a rolled-back transaction could not be kept", len(rows))
