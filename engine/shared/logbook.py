"""The one place that writes ``bj.api.log`` rows, with every secret masked.

Rows are written in the caller's transaction, so the caller sees them (``result['log_ids']``): one
INSERT per row, or one for many rows: the requests of one call (``LogBook.batch()``: ids are
reserved ahead, rows written every BATCH_ROWS and when the call ends) and the attempts a dispatcher's
turn concludes (``later``: written by ``flush()``).

No row is lost, whatever becomes of the transaction or of the process. A row is appended to a
journal, a file of its transaction in Odoo's data directory, before it is written (``_Journal``):

* the transaction commits: the file is emptied (a row not written yet is written first, in a
  transaction of its own), and deleted with its log book;
* it rolls back: the rows are written again in a transaction of their own, with the same ids;
* the process dies (killed by Odoo's watchdog or the kernel, a crash) in the middle of a call: the
  file stays, and ``recover()``, run by every dispatcher run and by the daily clean-up on the same
  host, writes the rows of the journals whose process is gone. A row whose id is known is written
  at most once (``ON CONFLICT (id) DO NOTHING``: its transaction may have committed); the others
  are given an id, noted in the journal, before they are written.

Each process holds a lock (``flock``) on a file of its own as long as it lives: that lock tells the
journals of live processes from those of dead ones. A test cursor (a savepoint of a test's
transaction, never committed) keeps no journal.
"""
import contextlib
import dataclasses
import fcntl
import glob
import json
import logging
import os
import re
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from odoo import SUPERUSER_ID, api, sql_db
from odoo.tools import SQL, config

if TYPE_CHECKING:
    from odoo.api import Environment
    from odoo.modules.registry import Registry
    from odoo.sql_db import BaseCursor

_logger = logging.getLogger(__name__)

MASK = '***'
MAX_TEXT_LENGTH = 64 * 1024
SENSITIVE_HEADER = re.compile(r'authorization|cookie|token|secret|password|passwd|api[-_]?key|signature', re.I)
BATCH_ROWS = 100  # rows of a call written by one INSERT


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


# The columns a log row is written with (the bj.api.log fields callers give), and their types.
_TYPES = {'name': 'varchar', 'direction': 'varchar', 'client_address': 'varchar', 'config_id': 'int4',
          'status': 'varchar', 'http_method': 'varchar', 'url': 'varchar', 'request_headers': 'text',
          'request_body': 'text', 'response_status_code': 'int4', 'response_headers': 'text',
          'response_body': 'text', 'error_message': 'text', 'duration_ms': 'int4', 'attempt': 'int4',
          'res_model': 'varchar', 'res_ids': 'varchar', 'job_id': 'int4'}
COLUMNS = tuple(_TYPES)


def row(name: str, status: str, record_ids: Iterable[int] = (), **values: object) -> dict:
    """The values of one log row: its title and status, the ids of the records concerned, and any other
    of COLUMNS (an attempt number of 0 says nothing was sent)."""
    unknown = set(values) - set(COLUMNS)
    if unknown:
        raise ValueError(f"not log row columns: {sorted(unknown)}")
    return {'name': name, 'status': status, 'attempt': 0, 'res_ids': ','.join(map(str, record_ids)) or False,
            **values}


class LogBook:
    """Writes log rows (see above); with ``later``, keeps them for one ``flush()`` (a dispatcher writes
    the rows of the attempts it concludes together). Without ``journaled``, rows keep no journal: those
    of an inbound request, whose work is all in the database and commits with its row (a request whose
    transaction fails is answered as failed, or retried by Odoo and logged again)."""

    def __init__(self, env: 'Environment', later: bool = False, journaled: bool = True) -> None:
        self.env = env(su=True)
        self.later = later
        self.journaled = journaled
        self._kept = []       # (journal entry, Row, values) of the rows not written yet
        self._reserved = []   # ids taken ahead for the rows of a batch
        self._batching = 0    # depth of batch() blocks
        self._batched = 0     # rows written in the current batch
        self._journal = None  # the current transaction's

    def write(self, values: dict) -> Row:  # pylint: disable=method-required-super  # not an Odoo model
        """Write one log row, or keep it for later (``later``, ``batch()``)."""
        values = _valid(values)
        row = Row(values['status'], values.get('error_message'))
        if self._batching:
            self._batched += 1
            if self._batched > 1:  # the first row of a batch may be its only one: written at once
                row.id = self._reserve()
        journal = self._current_journal()
        entry = journal.add(values, row.id) if journal else None
        if self.later or row.id is not None:
            self._kept.append((entry, row, values))
            if len(self._kept) >= BATCH_ROWS and not self.later:
                self.flush()
            return row
        [row.id] = insert(self.env.cr, [values], self.env.uid)
        if journal:
            journal.learn([(entry, row.id)])
        self._written()
        return row

    def flush(self) -> None:
        """Write the rows kept for later: one INSERT (two when some have ids and others not)."""
        kept, self._kept = self._kept, []
        if not kept:
            return
        try:
            numbered = [(row.id, values) for _entry, row, values in kept if row.id is not None]
            if numbered:
                insert(self.env.cr, [values for _id, values in numbered], self.env.uid,
                       ids=[log_id for log_id, _values in numbered])
            fresh = [(entry, row, values) for entry, row, values in kept if row.id is None]
            if fresh:
                ids = insert(self.env.cr, [values for _entry, _row, values in fresh], self.env.uid)
                for (_entry, row, _values), log_id in zip(fresh, ids, strict=True):
                    row.id = log_id
                if self._journal:
                    self._journal.learn([(entry, row.id) for entry, row, _values in fresh])
        except Exception:
            self._kept[:0] = kept
            raise
        self._written()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Within the block, rows are written BATCH_ROWS at a time, with ids reserved ahead (the caller
        gets them at once), and the last ones when it ends. A block left by an exception leaves its
        rows to the end of the transaction (see above)."""
        self._batching += 1
        if self._batching == 1:
            self._batched = 0
        try:
            yield
        finally:
            self._batching -= 1
            if not self._batching:
                self._reserved = []
        if not self._batching:
            self.flush()

    def mark(self) -> int:
        """Where the rows kept for later stand now (see ``forget``)."""
        return len(self._kept)

    def forget(self, mark: int) -> None:
        """Forget the rows kept since ``mark``: the work that wrote them is undone and redone."""
        forgotten, self._kept = self._kept[mark:], self._kept[:mark]
        if self._journal and forgotten:
            self._journal.drop([entry for entry, _row, _values in forgotten])

    def discard(self) -> None:
        """Forget every row of this transaction, kept or written: the transaction is rolled back and its
        work redone (a dispatcher's turn done again one delivery at a time)."""
        self._kept = []
        if self._journal and self._journal.active:
            self._journal.reset()

    def _reserve(self):
        if not self._reserved:
            self.env.cr.execute("SELECT nextval('bj_api_log_id_seq') FROM generate_series(1, %s)", [BATCH_ROWS])
            self._reserved = [log_id for (log_id,) in self.env.cr.fetchall()]
        return self._reserved.pop(0)

    def _written(self):
        # What the ORM's create would have done: the configs' and deliveries' log lists are read anew.
        self.env['bj.api.sync.config'].invalidate_model(['log_ids'])
        self.env['bj.api.sync.job'].invalidate_model(['log_ids'])

    def _current_journal(self):
        """This transaction's journal, from its first row on (None for a test cursor, or when the data
        directory cannot be written). A log book that lives on to later transactions (a dispatcher's)
        keeps its file, emptied when each transaction ends."""
        journal = self._journal
        if journal and journal.active:
            return journal
        cr = self.env.cr
        if not self.journaled or not isinstance(cr, sql_db.Cursor):
            return None
        if not journal or journal.closed:
            journal = self._journal = _HOST.journal(self.env)
            if not journal:
                return None
        journal.active = True
        registry = self.env.registry
        cr.postcommit.add(lambda: self._ended(journal, registry, committed=True))
        cr.postrollback.add(lambda: self._ended(journal, registry, committed=False))
        return journal

    def _ended(self, journal, registry, committed):
        """The transaction ended: rows not in the database (all after a rollback, those still kept after
        a commit) are written in a transaction of their own; then the journal is emptied."""
        if not journal.active:
            return  # discarded
        # Every row kept was written in this transaction's journal: a transaction flushes or discards
        # what it keeps before it ends, or ends here.
        unwritten = [(entry, row.id, values) for entry, row, values in self._kept] if committed else journal.rows()
        self._kept = []
        try:
            _write_rows(registry, journal, unwritten)
        except Exception:
            _logger.exception("BJ API: %d log rows could not be written; %s keeps them", len(unwritten), journal.path)
            journal.close(delete=False)
            return
        journal.reset()


def insert(cr: 'BaseCursor', rows: list[dict], uid: int, ids: list[int] | None = None,
           again: bool = False) -> list[int]:
    """Write ``rows`` (dicts of COLUMNS) with one INSERT; their ids, in order. A log row is written for
    every request, so this skips what the ORM's create does first (reading the user and the clock, the
    record cache) and writes any number of rows in one statement. ``ids``: the rows' own, reserved
    ahead; with ``again``, a row whose id exists is left as it is. A configuration or delivery deleted
    since is no longer referenced (the row stays)."""
    columns = [column for column in COLUMNS if column not in ('config_id', 'job_id')]
    if len(rows) == 1 and ids is None:
        # One row (an immediate request's, an inbound request's): a plain VALUES list costs PostgreSQL
        # half of what unnesting arrays does.
        values = rows[0]
        cr.execute(SQL("""
            INSERT INTO bj_api_log (config_id, job_id, %(target)s, create_uid, create_date, write_uid, write_date)
            VALUES ((SELECT id FROM bj_api_sync_config WHERE id = %(config_id)s),
                    (SELECT id FROM bj_api_sync_job WHERE id = %(job_id)s),
                    %(values)s, %(uid)s, now() AT TIME ZONE 'UTC', %(uid)s, now() AT TIME ZONE 'UTC')
            RETURNING id""", target=SQL(', ').join(map(SQL.identifier, columns)),
            config_id=values.get('config_id') or None, job_id=values.get('job_id') or None,
            values=SQL(', ').join(SQL('%s', _column_value(values, column)) for column in columns), uid=uid))
        return [cr.fetchone()[0]]
    arrays = [SQL('%s::int4[]', [values.get('config_id') or None for values in rows]),
              SQL('%s::int4[]', [values.get('job_id') or None for values in rows])]
    arrays += [SQL(f'%s::{_TYPES[column]}[]', [_column_value(values, column) for values in rows]) for column in columns]
    names = ['config_id', 'job_id', *columns]
    if ids is not None:
        arrays.append(SQL('%s::int4[]', ids))
        names.append('id')
    target = SQL(', ').join(map(SQL.identifier, names))
    selected = SQL(', ').join([SQL('config.id'), SQL('job.id'), *(SQL('log.%s', SQL.identifier(name))
                                                                   for name in names[2:])])
    cr.execute(SQL("""
        INSERT INTO bj_api_log (%(target)s, create_uid, create_date, write_uid, write_date)
        SELECT %(selected)s, %(uid)s, now() AT TIME ZONE 'UTC', %(uid)s, now() AT TIME ZONE 'UTC'
          FROM unnest(%(arrays)s) WITH ORDINALITY AS log(%(names)s, position)
          LEFT JOIN bj_api_sync_config AS config ON config.id = log.config_id
          LEFT JOIN bj_api_sync_job AS job ON job.id = log.job_id
         ORDER BY log.position
        %(conflict)s
        RETURNING id""", target=target, selected=selected, uid=uid, arrays=SQL(', ').join(arrays),
        names=SQL(', ').join(map(SQL.identifier, names)),
        conflict=SQL("ON CONFLICT (id) DO NOTHING") if again else SQL()))
    if ids is not None and not again:
        return ids
    # Ids given by the sequence as the rows were inserted, in their order (again: those inserted).
    return sorted(log_id for (log_id,) in cr.fetchall())


def _column_value(row, column):
    if column == 'direction':
        return row.get('direction') or 'out'
    value = row.get(column)
    return None if value is False else value


def _valid(values):
    """``values`` as PostgreSQL takes them: a NUL character (a binary answer) cannot be stored in text."""
    return {key: value.replace('\x00', '\ufffd') if isinstance(value, str) and '\x00' in value else value
            for key, value in values.items()}


def recover(registry: 'Registry') -> int:
    """Write the rows of the journals that processes of this host left when they died; how many were
    not in the database yet."""
    directory = _HOST.known_directory(registry.db_name)
    if directory is False:
        with registry.cursor() as cr:
            directory = _HOST.directory(api.Environment(cr, SUPERUSER_ID, {}))
    if not directory:
        return 0
    recovered = 0
    for lock_path in glob.glob(os.path.join(directory, '*.lock')):
        token = os.path.basename(lock_path)[:-len('.lock')]
        if token == _HOST.token:
            continue
        with _Host.dead_process(lock_path) as dead:
            if dead:
                recovered += _recover_process(registry, directory, token, lock_path)
    if recovered:
        _logger.warning("BJ API: %d log rows of processes that died were written", recovered)
    return recovered


def _recover_process(registry, directory, token, lock_path):
    """Write the rows of the journals of the dead process ``token``, then forget its lock; how many."""
    recovered = 0
    for path in sorted(glob.glob(os.path.join(directory, f'{token}-*.jsonl'))):
        journal = _Journal.reopen(path)
        try:
            written = _write_rows(registry, journal, journal.rows())
        except Exception:
            # Kept with its lock, for the next recovery.
            _logger.exception("BJ API: the log rows kept in %s could not be written", path)
            journal.close(delete=False)
            return recovered
        journal.close(delete=True)
        recovered += written
    os.unlink(lock_path)
    return recovered


def _write_rows(registry, journal, rows):
    """Write ``rows`` ((journal entry, id or None, values)) in a transaction of their own; those without
    an id are given one, noted in ``journal`` first, so that nothing is written twice. How many were
    not in the database yet."""
    if not rows:
        return 0
    with registry.cursor() as cr:
        missing = [entry for entry, log_id, _values in rows if log_id is None]
        if missing:
            cr.execute("SELECT nextval('bj_api_log_id_seq') FROM generate_series(1, %s)", [len(missing)])
            given = dict(zip(missing, (log_id for (log_id,) in cr.fetchall()), strict=True))
            journal.learn(list(given.items()))
            rows = [(entry, log_id or given[entry], values) for entry, log_id, values in rows]
        return len(insert(cr, [values for _entry, _id, values in rows], SUPERUSER_ID,
                          ids=[log_id for _entry, log_id, _values in rows], again=True))


class _Journal:
    """The rows of one transaction's log book, one JSON line each, then the ids they were given and the
    rows withdrawn (``{"row": n, "id": …, "values": {…}}``, ``{"ids": [[n, id], …]}``, ``{"drop": [n, …]}``)."""

    def __init__(self, path, fd, entries=None):
        self.path = path
        self.fd = fd
        self.entries = entries if entries is not None else {}  # entry number: [id, values]
        self.order = list(self.entries)
        self.closed = False
        self.active = False  # holds the rows of a transaction still open
        # Forgotten unclosed, its transaction's hooks were dropped without running: a test's transaction
        # (reset after each test), never committed. In production the hooks hold it until they run.
        self._finalizer = weakref.finalize(self, _forget, fd, path)

    @classmethod
    def new(cls, path):
        """An empty journal at ``path``, for this process alone."""
        return cls(path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600))

    @classmethod
    def reopen(cls, path):
        """A journal left by a dead process, as it was written."""
        entries = {}
        with open(path, 'rb') as file:
            for line in file:
                try:
                    record = json.loads(line)
                except ValueError:
                    break  # a line cut short by the death of its process: nothing after it
                if 'row' in record:
                    entries[record['row']] = [record['id'], record['values']]
                for entry, log_id in record.get('ids', ()):
                    entries[entry][0] = log_id
                for entry in record.get('drop', ()):
                    entries.pop(entry, None)
        return cls(path, os.open(path, os.O_WRONLY | os.O_APPEND), entries)

    def add(self, values, log_id):
        entry = len(self.order) + 1
        self.entries[entry] = [log_id, values]
        self.order.append(entry)
        self._append({'row': entry, 'id': log_id, 'values': values})
        return entry

    def learn(self, ids):
        for entry, log_id in ids:
            self.entries[entry][0] = log_id
        self._append({'ids': ids})

    def drop(self, entries):
        for entry in entries:
            self.entries.pop(entry, None)
        self._append({'drop': entries})

    def rows(self):
        """(entry, id or None, values) of the rows, in order."""
        return [(entry, *self.entries[entry]) for entry in self.order if entry in self.entries]

    def reset(self):
        """The transaction ended and its rows are in the database: empty the file for the next one."""
        os.ftruncate(self.fd, 0)
        self.entries.clear()
        self.order.clear()
        self.active = False

    def close(self, delete):
        if self.closed:
            return
        self.closed = True
        if delete:
            self._finalizer()
        else:
            self._finalizer.detach()
            os.close(self.fd)

    def _append(self, record):
        # One write() of a whole line: a process killed now has written all of it or nothing.
        os.write(self.fd, json.dumps(record, default=str).encode() + b'\n')


def _forget(fd, path):
    os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class _Host:
    """This process's journals: their directory per database, and the lock that says the process lives."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pid = None
        self.token = None
        self._count = 0
        self._directories = {}  # database name: directory, or None when it cannot be written
        self._locks = {}        # directory: the open file holding this process's lock there

    def directory(self, env):
        """The journal directory of ``env``'s database (one per database, named with its uuid so that a
        database created again under the same name never gets the journals of the one before)."""
        self._check_process()
        dbname = env.cr.dbname
        if dbname in self._directories:
            return self._directories[dbname]
        dbuuid = env['ir.config_parameter'].sudo().get_param('database.uuid') or 'unknown'
        with self._lock:
            if dbname not in self._directories:
                directory = os.path.join(config['data_dir'], 'bj_api_sync', 'log_journal', f'{dbname}-{dbuuid}')
                try:
                    os.makedirs(directory, exist_ok=True)
                    self._take_lock(directory)
                except OSError as error:
                    _logger.warning("BJ API: log rows are not journaled (%s): a process killed in the middle "
                                    "of a call may lose the rows of its last requests", error)
                    directory = None
                self._directories[dbname] = directory
            return self._directories[dbname]

    def known_directory(self, dbname):
        """The journal directory of database ``dbname`` if known, else False."""
        self._check_process()
        return self._directories.get(dbname, False)

    def journal(self, env):
        directory = self.directory(env)
        if not directory:
            return None
        with self._lock:
            self._count += 1
            number = self._count
        return _Journal.new(os.path.join(directory, f'{self.token}-{number}.jsonl'))

    def _check_process(self):
        with self._lock:
            if self._pid == os.getpid():
                return
            # A new process, or a child forked from this one: its own token and locks (an inherited
            # lock is the parent's; closing the child's copy leaves it held by the parent).
            for file in self._locks.values():
                file.close()
            self._pid, self.token, self._count = os.getpid(), uuid.uuid4().hex, 0
            self._directories, self._locks = {}, {}

    def _take_lock(self, directory):
        path = os.path.join(directory, f'{self.token}.lock')
        while True:
            file = open(path, 'ab')  # noqa: SIM115 - held open as long as the process lives
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(file.fileno()).st_nlink:
                break
            # A recovery took it for a dead process's between its creation and the lock, and removed it.
            file.close()
        self._locks[directory] = file

    @staticmethod
    @contextlib.contextmanager
    def dead_process(lock_path):
        """Whether the process that holds ``lock_path`` is gone; if so, its lock is held until the block ends."""
        try:
            fd = os.open(lock_path, os.O_WRONLY)
        except FileNotFoundError:  # another recovery removed it
            yield False
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        try:
            # Another recovery may have finished with it and removed it just before.
            yield os.fstat(fd).st_nlink > 0
        finally:
            os.close(fd)


_HOST = _Host()
