"""Worker processes of the benchmarks: each is a fresh Python process with its own registry,
started by bench/benchmarks.py, answering one JSON line on stdout.

  worker.py DB dispatch           print "ready", wait for "go" on stdin, then send queued jobs with
                                  engine/outbox.dispatch() until none is left (what a cron worker does)
  worker.py DB sync CONFIG_ID N   send the first N bench partners through the configuration now,
                                  in one transaction, and report the process's memory (peak
                                  during the sync, and before it with the registry loaded)
"""
# pylint: disable=print-used,invalid-commit  # a command-line benchmark: it prints its tables and commits its data
import json
import sys
import time

from common import environment, peak_rss_mb, registry, reset_peak_rss, rss_mb, sql_queries
from fixtures import PREFIX


def dispatch(reg):
    from odoo.addons.bj_api_sync.engine.outbox import (
        dispatcher as outbox,  # importable once the registry set the addons path
    )
    print('ready', flush=True)
    if sys.stdin.readline().strip() != 'go':
        return {}
    started, sent = time.perf_counter(), 0
    while True:
        # dispatch() stops at its time budget or when no due job is left to claim.
        batch = outbox.dispatch(reg)
        sent += batch
        if not batch:
            break
    return {'sent': sent, 'seconds': time.perf_counter() - started}


def sync(reg, config_id, count):
    reset_peak_rss()  # the peak of the sync, not of loading the registry
    before, started, queries = rss_mb(), time.perf_counter(), sql_queries()
    with reg.cursor() as cr:
        env = environment(cr)
        records = env['res.partner'].search([('ref', '=like', f'{PREFIX}%')], order='id', limit=count)
        with_ids = rss_mb()  # what the N ids cost, before any page
        result = env['bj.api.sync.config'].browse(config_id)._make_outbound_http_request(records)
    return {
        'records': len(records), 'requests': len(result['requests']), 'success': result['success'],
        'seconds': time.perf_counter() - started, 'queries': sql_queries() - queries,
        'rss_before_mb': before, 'rss_with_ids_mb': with_ids, 'rss_after_mb': rss_mb(), 'peak_rss_mb': peak_rss_mb(),
    }


def main(db, command, *args):
    reg = registry(db)
    figures = dispatch(reg) if command == 'dispatch' else sync(reg, *map(int, args))
    print(json.dumps(figures), flush=True)


if __name__ == '__main__':
    main(*sys.argv[1:])
