"""What benchmark scripts share: the Odoo command line bench/run prepared, registries,
worker processes, timing, query counts, memory, percentiles, printing figures and merging them
into bench/results.json."""
# pylint: disable=print-used,invalid-commit  # a command-line benchmark: it prints its tables and commits its data
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

import odoo
from odoo import SUPERUSER_ID, api

ODOO_ARGS = shlex.split(os.environ.get('BJ_BENCH_ODOO_ARGS', ''))
ODOO_BIN = os.environ.get('BJ_BENCH_ODOO_BIN', '')
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))


def registry(db):
    """This process's registry of ``db`` (bench/run created the database)."""
    odoo.tools.config.parse_config([*ODOO_ARGS, '-d', db, '--log-level=warn'])
    return odoo.modules.registry.Registry(db)


def environment(cr):
    return api.Environment(cr, SUPERUSER_ID, {})


def odoo_server(db, *args, log_path=os.devnull):
    """Start an Odoo server process on ``db`` (for its cron workers); the caller stops it."""
    return subprocess.Popen(
        [sys.executable, ODOO_BIN, *ODOO_ARGS, '-d', db, '--db-filter', f'^{db}$', *args],
        stdout=open(log_path, 'wb'), stderr=subprocess.STDOUT,
    )


def python_worker(script, db, *args):
    """Start ``bench/<script>`` in a fresh Python process on ``db``; it talks one line at a
    time on stdin/stdout (see bench/worker.py)."""
    return subprocess.Popen(
        [sys.executable, os.path.join(BENCH_DIR, script), db, *map(str, args)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
    )


def sql_queries():
    """Queries sent by this process so far (every cursor counts)."""
    return odoo.sql_db.sql_counter


@contextlib.contextmanager
def measured():
    """``with measured() as m:`` … then ``m['seconds']`` and ``m['queries']`` of the block."""
    figures = {}
    queries, started = sql_queries(), time.perf_counter()
    try:
        yield figures
    finally:
        figures['seconds'] = time.perf_counter() - started
        figures['queries'] = sql_queries() - queries


def rss_mb():
    """This process's resident memory now, in MiB."""
    return _status_kib('VmRSS') / 1024


def peak_rss_mb():
    """This process's highest resident memory (VmHWM), in MiB: since it started, or since
    reset_peak_rss(). Not ru_maxrss: Linux carries that over from the parent across fork and exec."""
    return _status_kib('VmHWM') / 1024


def reset_peak_rss():
    """Measure the peak from now on (Linux ≥ 4.0)."""
    with open('/proc/self/clear_refs', 'w') as refs:
        refs.write('5')


def _status_kib(key):
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(f'{key}:'):
                return int(line.split()[1])
    raise KeyError(key)


def summary(values):
    """Median and spread (min–max) of repeated measurements."""
    return {'median': statistics.median(values), 'min': min(values), 'max': max(values), 'runs': len(values)}


def spread(figure, digits=0):
    """'1,234 (1,200–1,250)' for a summary(); a plain number as is."""
    if not isinstance(figure, dict):
        return f"{figure:,.{digits}f}" if isinstance(figure, (int, float)) else str(figure)
    low, high = f"{figure['min']:,.{digits}f}", f"{figure['max']:,.{digits}f}"
    return f"{figure['median']:,.{digits}f} ({low}–{high})"


def percentile(values, rank):
    """The ``rank``-th percentile of ``values`` (nearest rank); NaN for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(rank / 100 * (len(ordered) - 1)))] if ordered else float('nan')


def print_table(title, columns, rows):
    """Print ``rows`` (lists of cells, already text) under ``columns``, aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(columns, *rows, strict=True)]
    line = '  '.join('-' * width for width in widths)
    print(f"\n{title}\n{line}")
    print('  '.join(str(cell).ljust(width) for cell, width in zip(columns, widths, strict=True)))
    print(line)
    for row in rows:
        print('  '.join(str(cell).rjust(width) if index else str(cell).ljust(width)
                        for index, (cell, width) in enumerate(zip(row, widths, strict=True))))
    sys.stdout.flush()


def run_sections(bench, sections, only):
    """Run ``bench``'s ``sections`` named in ``only`` (comma-separated), in their order, between its
    prepare() and its stop()."""
    try:
        bench.prepare()
        for section in sections:
            if section in only.split(','):
                getattr(bench, section)()
    finally:
        bench.stop()


def print_all_results(tables):
    """Print again, together, the tables the sections printed: {name: {'title', 'columns', 'rows'}}."""
    print("\n" + "=" * 30 + " all results " + "=" * 30)
    for table in tables.values():
        print_table(table['title'], table['columns'], table['rows'])


def merge_results(path, sections):
    """Write ``sections`` ({name: figures}) into the results file at ``path``; other benchmarks' sections stay."""
    try:
        with open(path) as existing:
            results = json.load(existing)
    except (FileNotFoundError, ValueError):
        results = {}
    results.update(sections)
    with open(path, 'w') as output:
        json.dump(results, output, indent=2)
    print(f"Merged into {path}")


def progress(message):
    print(f"  … {message}", file=sys.stderr, flush=True)
