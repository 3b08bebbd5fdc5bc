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
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from odoo import SUPERUSER_ID, api
from odoo.tools import SQL

if TYPE_CHECKING:
    from odoo.api import Environment
    from odoo.sql_db import BaseCursor

_logger = logging.getLogger(__name__)

MASK = '***'
MAX_TEXT_LENGTH = 64 * 1024
SENSITIVE_HEADER = re.compile(r'authorization|cookie|token|secret|password|passwd|api[-_]?key|signature', re.I)
_ROLLBACK_KEY = 'bj_api_sync.logs'


class Redactor:
    """Masks known secret values wherever they appear in text written to a log."""

    def __init__(self, secrets: Iterable[str | None] = (),
                 more: Callable[[], Iterable[str | None]] | None = None) -> None:
        self.known = list(secrets)
        # Secrets learnt while sending (an OAuth2 access token), asked for each time.
        self.more = more
        self._sorted = (None, [])

    @property
    def secrets(self) -> list[str]:
        learnt = tuple(self.more()) if self.more else ()
        if self._sorted[0] != learnt:
            # Longest first, so a secret containing another is masked whole. Sorted again only
            # when the learnt secrets change, not for every text masked.
            secrets = {s for s in self.known + list(learnt) if s and len(s) >= 4}
            self._sorted = (learnt, sorted(secrets, key=len, reverse=True))
        return self._sorted[1]

    def text(self, text: str) -> str:
        if not text:
            return text
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {key: self._header(key, value) for key, value in headers.items()}

    def _header(self, key, value):
        if not SENSITIVE_HEADER.search(key):
            return self.text(value)
        scheme, _, credentials = value.partition(' ')
        # Keep "Basic"/"Bearer" visible: it tells which auth was sent.
        return f"{scheme} {MASK}" if credentials and scheme.isalpha() else MASK

    def url(self, url: str | None) -> str:
        return self.text(re.sub(r'(?<=://)[^/@\s]+@', f'{MASK}@', url or ''))


def truncate(text: str, limit: int = MAX_TEXT_LENGTH) -> str:
    if text and len(text) > limit:
        return f"{text[:limit]}\n… [{len(text) - limit} more characters not kept]"
    return text


def headers_text(headers: Mapping[str, str]) -> str:
    return json.dumps(headers, indent=2, ensure_ascii=False, sort_keys=True)


@dataclasses.dataclass
class Row:
    """A log row as callers read it after writing it: its status, error and id (None until written)."""
    status: str
    error_message: str | None = None
    id: int | None = None


# The columns a log row is written with (the bj.api.log fields callers give).
COLUMNS = ('name', 'direction', 'client_address', 'config_id', 'status', 'http_method', 'url', 'request_headers',
           'request_body', 'response_status_code', 'response_headers', 'response_body', 'error_message',
           'duration_ms', 'attempt', 'res_model', 'res_ids', 'job_id')


def row(name: str, status: str, record_ids: Iterable[int] = (), **values: object) -> dict:
    """The values of one log row: its title and status, the ids of the records concerned, and any other
    of COLUMNS (an attempt number of 0 says nothing was sent)."""
    unknown = set(values) - set(COLUMNS)
    if unknown:
        raise ValueError(f"not log row columns: {sorted(unknown)}")
    return {'name': name, 'status': status, 'attempt': 0, 'res_ids': ','.join(map(str, record_ids)) or False,
            **values}


class LogBook:
    """Writes log rows; with ``later``, keeps them for one ``flush()`` (a dispatcher writes the rows of
    the attempts it concludes together)."""

    def __init__(self, env: 'Environment', later: bool = False) -> None:
        self.env = env(su=True)
        self.later = [] if later else None

    def write(self, values: dict) -> Row:  # pylint: disable=method-required-super  # not an Odoo model
        """Write one log row (or keep it for ``flush()``); it is written again if the transaction rolls back."""
        row = Row(values['status'], values.get('error_message'))
        if self.later is not None:
            self.later.append(values)
            return row
        [row.id] = insert(self.env.cr, [values], self.env.uid)
        self._written([values])
        return row

    def flush(self) -> None:
        """Write the rows kept for later."""
        if self.later:
            insert(self.env.cr, self.later, self.env.uid)
            self._written(self.later)
            self.later.clear()

    def _written(self, rows):
        _keep_for_rollback(self.env, rows)
        # What the ORM's create would have done: the configs' and deliveries' log lists are read anew.
        self.env['bj.api.sync.config'].invalidate_model(['log_ids'])
        self.env['bj.api.sync.job'].invalidate_model(['log_ids'])


def insert(cr: 'BaseCursor', rows: Iterable[dict], uid: int) -> list[int]:
    """Write ``rows`` (dicts of COLUMNS) with one INSERT; their ids, in order. A log row is written for
    every request, so it skips what the ORM's create does first (reading the user and the clock, the
    record cache) and writes any number of rows in one statement."""
    values = SQL(', ').join(
        SQL("(%s, now() AT TIME ZONE 'UTC', %s, now() AT TIME ZONE 'UTC', " + ', '.join(['%s'] * len(COLUMNS)) + ')',
            uid, uid, *(_column_value(row, column) for column in COLUMNS))
        for row in rows)
    cr.execute(SQL("INSERT INTO bj_api_log (create_uid, create_date, write_uid, write_date, %s) VALUES %s RETURNING id",
                   SQL(', ').join(map(SQL.identifier, COLUMNS)), values))
    return [log_id for (log_id,) in cr.fetchall()]


def _column_value(row, column):
    if column == 'direction':
        return row.get('direction') or 'out'
    value = row.get(column)
    return None if value is False else value


def _keep_for_rollback(env, rows):
    cr = env.cr
    pending = cr.postrollback.data.get(_ROLLBACK_KEY)
    if pending is None:
        pending = cr.postrollback.data[_ROLLBACK_KEY] = []
        registry = env.registry
        cr.postrollback.add(lambda: _write_again(registry, pending))
    # Compressed (bodies are JSON, ~10x smaller): kept until the transaction ends.
    pending.extend(zlib.compress(json.dumps(values).encode(), 1) for values in rows)


def _write_again(registry, rows):
    rows = [json.loads(zlib.decompress(row)) for row in rows]
    try:
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            config_ids = {row['config_id'] for row in rows if row.get('config_id')}
            # A config created in the rolled-back transaction is gone: keep the row, unlinked.
            existing = set(env['bj.api.sync.config'].browse(config_ids).exists().ids)
            insert(cr, [{**row, 'config_id': row.get('config_id') if row.get('config_id') in existing else False}
                        for row in rows], SUPERUSER_ID)
    except Exception:
        _logger.exception("BJ API: %d log rows of a rolled-back transaction could not be kept", len(rows))
