"""How fast and how lean bj_api_sync is, side by side with Odoo's own webhook (issue #6).

Run with `bench/run` (or `bench/run benchmarks --quick`): on the database bench/run just
created, with an HTTP sink on 127.0.0.1 in a process of its own, it measures

  payload   records per second and SQL queries per page building payloads (8 mapping lines),
            against a naive loop calling read() per record
  sending   requests and records per second to the sink: one request per record or per page,
            pooled keep-alive session or a new connection per request, and Odoo's webhook action
  trigger   milliseconds per res.partner.create (each committed) with no rule, a BJ API rule
            (immediate, queued) and Odoo's webhook rule, against a sink answering in 200 ms
  queue     jobs per second sent by 1, 2 and 4 dispatcher processes, and that none is sent twice
  memory    peak RSS of a fresh process syncing N records paginated, for growing N

Each figure is repeated (--runs) and shown as median (min–max); everything is printed as
tables and written to bench/results.json. Figures are printed, never asserted.
"""
# pylint: disable=print-used,invalid-commit  # a command-line benchmark: it prints its tables and commits its data
import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import platform
import sys
import time

import fixtures
import requests
from common import (
    BENCH_DIR,
    environment,
    measured,
    merge_results,
    percentile,
    print_all_results,
    print_table,
    progress,
    python_worker,
    registry,
    run_sections,
    spread,
    sql_queries,
    summary,
)
from sink import SinkProcess

SLOW_SINK_MS = 200       # the trigger benchmark's sink: a slow API
QUEUE_LATENCY_MS = 20    # the queue benchmark's second sink: an API across a network


@dataclasses.dataclass
class Plan:
    """How much to measure: the full plan of the issue, or --quick for a check in a few minutes."""
    runs: int = 3
    payload_sizes: tuple = (1_000, 10_000, 100_000)
    naive_max: int = 10_000               # the naive loop is not run on more records than this
    page_sizes: tuple = (10, 50, 100, 200, 500)
    page_sweep_records: int = 10_000
    send_records: int = 5_000
    send_page_sizes: tuple = (50, 100, 200)
    trigger_creates: int = 1_000
    queue_jobs: int = 10_000
    queue_latency_jobs: int = 1_000       # drained again against a sink answering in QUEUE_LATENCY_MS
    queue_workers: tuple = (1, 2, 4)
    memory_sizes: tuple = (10_000, 50_000, 100_000)


QUICK = Plan(runs=3, payload_sizes=(1_000, 5_000), naive_max=5_000, page_sweep_records=2_000, send_records=500,
             trigger_creates=20, queue_jobs=500, queue_latency_jobs=200, memory_sizes=(2_000, 5_000, 10_000))
SECTIONS = ('payload', 'sending', 'trigger', 'queue', 'memory')


class Bench:
    """The measurements, one method per section, on one database and one sink; each
    section prints its table and keeps it for bench/results.json."""

    def __init__(self, db, plan):
        self.db = db
        self.plan = plan
        self.registry = registry(db)
        self.sink = SinkProcess()
        self.tables = {}

    def repeat(self, measure, *args):
        """``measure(*args)`` --runs times: a list of its figure dicts."""
        return [measure(*args) for _run in range(self.plan.runs)]

    def table(self, name, title, columns, rows, data):
        self.tables[name] = {'title': title, 'columns': columns, 'rows': rows, 'data': data}
        print_table(title, columns, rows)

    def prepare(self):
        with self.registry.cursor() as cr:
            env = environment(cr)
            fixtures.clean(env)
            progress("bench partners")
            with measured() as made:
                fixtures.partners(env, self._records_needed(), progress=progress)
            progress(f"bench partners ready in {made['seconds']:.0f} s")

    def _records_needed(self):
        plan = self.plan
        return max(*plan.payload_sizes, plan.page_sweep_records, plan.send_records, plan.queue_jobs,
                   plan.queue_latency_jobs, *plan.memory_sizes)

    # 1. Payload building ---------------------------------------------------------------

    def payload(self):
        plan = self.plan
        with self.registry.cursor() as cr:
            env = environment(cr)
            configs = {size: fixtures.config(env, f'Payload page {size}', self.sink.url, page_size=size).id
                       for size in sorted({100, *plan.page_sizes})}
        rows, data = [], []
        cases = [(count, 100) for count in plan.payload_sizes]
        cases += [(plan.page_sweep_records, size) for size in plan.page_sizes if size != 100]
        for count, page_size in cases:
            builders = [('bj_api_sync', self._build_pages)]
            if count <= plan.naive_max:
                builders.append(('naive read() per record', self._build_naive))
            for builder, build in builders:
                progress(f"payload: {builder}, {count:,} records, pages of {page_size}")
                runs = self.repeat(self._timed_build, build, configs[page_size], count, page_size)
                figures = {
                    'records': count, 'page_size': page_size, 'builder': builder,
                    'records_per_second': summary([count / run['seconds'] for run in runs]),
                    'setup_queries': max(run['setup_queries'] for run in runs),
                    'queries_per_page': summary([run['page_queries'] / run['pages'] for run in runs]),
                    'max_queries_in_a_page': max(run['max_page_queries'] for run in runs),
                    'queries_per_1000_records': summary([run['queries'] * 1000 / count for run in runs]),
                }
                data.append(figures)
                rows.append([builder, f"{count:,}", page_size, spread(figures['records_per_second']),
                             figures['setup_queries'], spread(figures['queries_per_page'], 1),
                             figures['max_queries_in_a_page'], spread(figures['queries_per_1000_records'], 1)])
        self.table('payload', "1. Payload building: 8 mapping lines, res.partner, JSON bodies page by page",
                   ['builder', 'records', 'page', 'records/s', 'setup q', 'queries/page', 'max q/page',
                    'queries/1000 rec'], rows, data)

    def _timed_build(self, build, config_id, count, page_size):
        with self.registry.cursor() as cr:
            env = environment(cr)
            config = env['bj.api.sync.config'].browse(config_id)
            records = fixtures.partners(env, count)
            env.invalidate_all()  # every run reads from the database, not from this cursor's cache
            with measured() as total:
                setup_queries, page_queries = build(config, records, page_size)
            cr.rollback()
        return {'seconds': total['seconds'], 'queries': total['queries'], 'setup_queries': setup_queries,
                'pages': len(page_queries), 'page_queries': sum(page_queries), 'max_page_queries': max(page_queries)}

    @staticmethod
    def _build_pages(config, records, page_size):
        """The engine's planning (Outbound.plan()), consumed page by page: the queries made
        before the first page (records exist? mapping) and those of each page."""
        from odoo.addons.bj_api_sync.engine.outbound.front_door import Outbound
        before = sql_queries()
        pages = Outbound(config.sudo()).plan(records)
        setup, per_page, last = sql_queries() - before, [], sql_queries()
        for planned in pages:
            assert planned.body and not planned.error, planned.error
            per_page.append(sql_queries() - last)
            last = sql_queries()
        return setup, per_page

    @staticmethod
    def _build_naive(config, records, page_size):
        """What one writes without thinking of queries: read() each record, then its relations."""
        from odoo.addons.bj_api_sync.engine.shared.payload import to_json_text
        Partner, Country = records.env['res.partner'], records.env['res.country']
        per_page = []
        for start in range(0, len(records), page_size):
            before, body = sql_queries(), []
            for record_id in records.ids[start:start + page_size]:
                partner = Partner.browse(record_id).read(fixtures.WEBHOOK_FIELDS, load=None)[0]
                company = Partner.browse(partner['parent_id']).read(['name'])[0] if partner['parent_id'] else None
                country = Country.browse(partner['country_id']).read(['code', 'name'])[0] \
                    if partner['country_id'] else None
                body.append({
                    'id': partner['id'], 'name': partner['name'], 'email': partner['email'] or None,
                    'updated_at': partner['write_date'].replace(tzinfo=datetime.timezone.utc).isoformat(),
                    'company': {'name': company and company['name']},
                    'country': country and {'code': country['code'], 'name': country['name']},
                    'tag_ids': partner['category_id'],
                    'email_domain': (partner['email'] or '').partition('@')[2] or None,
                })
            to_json_text(body)
            per_page.append(sql_queries() - before)
        return 0, per_page

    # 2. Sending ------------------------------------------------------------------------

    def sending(self):
        plan = self.plan
        count = plan.send_records
        with self.registry.cursor() as cr:
            env = environment(cr)
            url = self.sink.url_for('partners')
            modes = [('per record', fixtures.config(env, 'Send per record', url).id, count)]
            modes += [(f'page {size}', fixtures.config(env, f'Send page {size}', url, page_size=size).id,
                       -(-count // size)) for size in plan.send_page_sizes]
            webhook = fixtures.webhook_action(env, url).id
        rows, data = [], []
        cases = [(f"bj_api_sync, {mode}", connection, config_id, requests_expected)
                 for mode, config_id, requests_expected in modes for connection in ('pooled', 'new')]
        cases.append(("Odoo webhook action", 'new', None, count))
        for label, connection, config_id, requests_expected in cases:
            progress(f"sending: {label}, {connection} connection, {count:,} records")
            runs = self.repeat(self._timed_send, config_id, webhook, count, connection == 'new')
            assert all(run['requests'] == requests_expected for run in runs), (label, runs)
            figures = {
                'sender': label, 'connection': connection, 'records': count, 'requests': requests_expected,
                'requests_per_second': summary([run['requests'] / run['seconds'] for run in runs]),
                'records_per_second': summary([count / run['seconds'] for run in runs]),
                'connections_opened': max(run['connections'] for run in runs),
                'queries_per_request': summary([run['queries'] / run['requests'] for run in runs]),
            }
            data.append(figures)
            rows.append([label, connection, f"{requests_expected:,}", spread(figures['requests_per_second']),
                         spread(figures['records_per_second']), f"{figures['connections_opened']:,}",
                         spread(figures['queries_per_request'], 1)])
        self.table('sending', f"2. Sending {count:,} res.partner records to the local sink (answers at once)",
                   ['sender', 'connection', 'requests', 'requests/s', 'records/s', 'new TCP conns', 'queries/req'],
                   rows, data)

    def _timed_send(self, config_id, webhook_id, count, new_connections):
        self.sink.reset()
        with self.registry.cursor() as cr:
            env = environment(cr)
            records = fixtures.partners(env, count)
            env.invalidate_all()
            with measured() as sent, one_connection_per_request(new_connections):
                if config_id:
                    result = env['bj.api.sync.config'].browse(config_id)._make_outbound_http_request(records)
                    assert result['success'], result['errors'][:3]
                else:
                    env['ir.actions.server'].browse(webhook_id).with_context(
                        active_model='res.partner', active_ids=records.ids).run()
                cr.commit()
        stats = self.sink.stats()
        return {**sent, 'requests': stats['requests'], 'connections': stats['connections']}

    # 3. Trigger overhead ---------------------------------------------------------------

    def trigger(self):
        creates = self.plan.trigger_creates
        url = self.sink.url_for('created', delay_ms=SLOW_SINK_MS)
        variants = [
            ('no rule', None),
            ('bj_api_sync rule, immediate', lambda env: fixtures.automation(
                env, fixtures.config(env, 'Trigger immediate', url), queued=False)),
            ('bj_api_sync rule, queued', lambda env: fixtures.automation(
                env, fixtures.config(env, 'Trigger queued', url, queued=True), queued=True)),
            ('bj_api_sync On-save rule, queued', lambda env: fixtures.automation(
                env, fixtures.config(env, 'Trigger on save', url, queued=True), queued=True,
                trigger='on_create_or_write')),
            ('empty On-save rule (Odoo alone)', lambda env: fixtures.empty_automation(
                env, fixtures.config(env, 'Trigger empty', url), 'on_create_or_write')),
            ('Odoo webhook rule', lambda env: fixtures.webhook_automation(env, url)),
        ]
        rows, data = [], []
        for label, make_rule in variants:
            progress(f"trigger: {label}, {creates:,} creates")
            with self.registry.cursor() as cr:
                rule = make_rule(environment(cr)).id if make_rule else None
            self.sink.reset()
            timings = [self._timed_create(f"Bench Trigger {label} {index}") for index in range(creates)]
            stats = self.sink.stats()
            with self.registry.cursor() as cr:
                env = environment(cr)
                cr.execute("SELECT count(*) FROM bj_api_sync_job WHERE state = 'pending'")
                queued = cr.fetchone()[0]
                if rule:
                    env['base.automation'].browse(rule).unlink()
                cr.execute("DELETE FROM bj_api_sync_job")
            figures = {'variant': label, 'creates': creates, 'sink_delay_ms': SLOW_SINK_MS,
                       'ms_per_create': summary([timing * 1000 for timing in timings]),
                       'ms_p95': percentile([timing * 1000 for timing in timings], 95),
                       'sent_while_creating': stats['requests'], 'queued_jobs': queued}
            data.append(figures)
            rows.append([label, spread(figures['ms_per_create'], 1), f"{figures['ms_p95']:,.1f}",
                         f"{creates:,}", f"{stats['requests']:,}", f"{queued:,}"])
        self.table('trigger', f"3. Trigger overhead: ms per res.partner.create + commit, "
                              f"sink answering in {SLOW_SINK_MS} ms",
                   ['variant', 'ms/create', 'p95 ms', 'creates', 'sent during loop', 'left queued'], rows, data)

    def _timed_create(self, name):
        started = time.perf_counter()
        with self.registry.cursor() as cr:   # committed when the block ends: after-commit work counts
            environment(cr)['res.partner'].create({'name': name, 'email': 'created@example.com'})
        return time.perf_counter() - started

    # 4. Queue drain --------------------------------------------------------------------

    def queue(self):
        plan = self.plan
        rows, data = [], []
        for latency_ms, count in [(0, plan.queue_jobs), (QUEUE_LATENCY_MS, plan.queue_latency_jobs)]:
            with self.registry.cursor() as cr:
                url = self.sink.url_for('queued', delay_ms=latency_ms)
                config_id = fixtures.config(environment(cr), f'Queue {latency_ms} ms', url, queued=True).id
            for workers in plan.queue_workers:
                progress(f"queue: {count:,} jobs, sink answering in {latency_ms} ms, {workers} dispatcher(s)")
                runs = self.repeat(self._timed_drain, config_id, count, workers)
                figures = {
                    'workers': workers, 'jobs': count, 'sink_latency_ms': latency_ms,
                    'jobs_per_second': summary([run['jobs'] / run['seconds'] for run in runs]),
                    'enqueue_jobs_per_second': summary([run['jobs'] / run['enqueue_seconds'] for run in runs]),
                    'sent_twice': sum(run['sent_twice'] for run in runs),
                    'missing': sum(run['missing'] for run in runs),
                    'not_done': sum(run['not_done'] for run in runs),
                    'jobs_per_worker': [run['per_worker'] for run in runs],
                }
                data.append(figures)
                rows.append([workers, latency_ms, f"{count:,}", spread(figures['jobs_per_second']),
                             figures['sent_twice'], figures['missing'], figures['not_done'],
                             spread(figures['enqueue_jobs_per_second'])])
        self.table('queue', "4. Queue drain: queued jobs sent by dispatcher processes (outbox.dispatch)",
                   ['workers', 'sink ms', 'jobs', 'jobs/s', 'sent twice', 'missing', 'not done', 'enqueue jobs/s'],
                   rows, data)

    def _timed_drain(self, config_id, count, workers):
        with self.registry.cursor() as cr:
            env = environment(cr)
            cr.execute("DELETE FROM bj_api_log")
            cr.execute("DELETE FROM bj_api_sync_job")
            records = fixtures.partners(env, count)
            with measured() as enqueued:
                result = env['bj.api.sync.config'].browse(config_id)._make_outbound_http_request(records)
                cr.commit()
            keys = set(env['bj.api.sync.job'].browse(result['job_ids']).mapped('idempotency_key'))
        processes = [python_worker('worker.py', self.db, 'dispatch') for _worker in range(workers)]
        for process in processes:
            assert process.stdout.readline().strip() == 'ready'
        self.sink.reset()
        started = time.perf_counter()
        for process in processes:
            process.stdin.write('go\n')
            process.stdin.flush()
        per_worker = [json.loads(process.stdout.readline()) for process in processes]
        seconds = time.perf_counter() - started
        for process in processes:
            process.wait()
        received = self.sink.stats()['keys']
        with self.registry.cursor() as cr:
            cr.execute("SELECT count(*) FROM bj_api_sync_job WHERE state != 'done'")
            not_done = cr.fetchone()[0]
        return {'jobs': len(keys), 'seconds': seconds, 'enqueue_seconds': enqueued['seconds'],
                'per_worker': [worker['sent'] for worker in per_worker], 'not_done': not_done,
                'missing': len(keys - set(received)),
                'sent_twice': sum(1 for key in keys if received.get(key, 0) > 1)}

    # 5. Memory -------------------------------------------------------------------------

    def memory(self):
        with self.registry.cursor() as cr:
            config_id = fixtures.config(environment(cr), 'Memory', self.sink.url_for('memory'), page_size=100).id
        rows, data = [], []
        for count in self.plan.memory_sizes:
            progress(f"memory: a fresh process syncs {count:,} records, pages of 100")
            runs = self.repeat(self._measured_sync, config_id, count)
            figures = {
                'records': count, 'page_size': 100,
                'rss_before_mb': summary([run['rss_before_mb'] for run in runs]),
                'ids_mb': summary([run['rss_with_ids_mb'] - run['rss_before_mb'] for run in runs]),
                'peak_rss_mb': summary([run['peak_rss_mb'] for run in runs]),
                'growth_mb': summary([run['peak_rss_mb'] - run['rss_before_mb'] for run in runs]),
                # The peak less the ids of the N records: what sending them page by page took.
                'sync_mb': summary([run['peak_rss_mb'] - run['rss_with_ids_mb'] for run in runs]),
                'bodies_sent_mb': runs[0]['bodies_sent_mb'],
                'records_per_second': summary([run['records'] / run['seconds'] for run in runs]),
            }
            data.append(figures)
            rows.append([f"{count:,}", spread(figures['rss_before_mb']), spread(figures['ids_mb'], 1),
                         spread(figures['peak_rss_mb']), spread(figures['growth_mb'], 1), spread(figures['sync_mb'], 1),
                         f"{figures['bodies_sent_mb']:,.0f}", spread(figures['records_per_second'])])
        self.table('memory', "5. Memory: one fresh process syncing N records now (pages of 100), in MiB",
                   ['records', 'RSS before', 'the ids', 'peak RSS', 'peak - before', 'peak - before - ids',
                    'bodies sent', 'records/s'],
                   rows, data)

    def _measured_sync(self, config_id, count):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM bj_api_log")
        process = python_worker('worker.py', self.db, 'sync', config_id, count)
        figures = json.loads(process.stdout.readline())
        process.wait()
        assert figures['success'] and figures['records'] == count, figures
        with self.registry.cursor() as cr:
            cr.execute("SELECT sum(octet_length(request_body)) FROM bj_api_log WHERE config_id = %s", [config_id])
            figures['bodies_sent_mb'] = cr.fetchone()[0] / 2**20
        return figures

    def stop(self):
        with self.registry.cursor() as cr:
            fixtures.clean(environment(cr))
        self.sink.stop()


class _NewConnectionSession(requests.Session):
    """A stand-in for the engine's pooled session: every request opens (and closes) its own connection."""

    def send(self, *args, **kwargs):
        with requests.Session() as session:
            return session.send(*args, **kwargs)


@contextlib.contextmanager
def one_connection_per_request(enabled):
    """Have the engine open a new connection for every request, as ``requests.post()`` does
    (Odoo's webhook action), instead of its pooled keep-alive session."""
    from odoo.addons.bj_api_sync.engine.shared import transport
    pooled = transport.session
    if enabled:
        transport.session = lambda tls=None: _NewConnectionSession()
    try:
        yield
    finally:
        transport.session = pooled


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='bench/run benchmarks', description=__doc__.split('\n\n')[0])
    parser.add_argument('db')
    parser.add_argument('--quick', action='store_true', help="small N everywhere: a check in a few minutes")
    parser.add_argument('--only', default=','.join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    parser.add_argument('--runs', type=int, help="repetitions of each measurement (default 3)")
    parser.add_argument('--creates', type=int, help="creates per trigger variant (default 1,000; --quick 20)")
    parser.add_argument('--jobs', type=int, help="queued jobs to drain (default 10,000; --quick 500)")
    parser.add_argument('--output', default=os.path.join(BENCH_DIR, 'results.json'))
    args = parser.parse_args(argv)
    unknown = set(args.only.split(',')) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    plan = QUICK if args.quick else Plan()
    overrides = {'runs': args.runs, 'trigger_creates': args.creates, 'queue_jobs': args.jobs}
    return args, dataclasses.replace(plan, **{key: value for key, value in overrides.items() if value})


def main(argv):
    args, plan = parse_args(argv)
    started = time.perf_counter()
    bench = Bench(args.db, plan)
    print(f"bj_api_sync benchmarks on {args.db}: {'quick' if args.quick else 'full'} plan, {plan.runs} runs "
          f"each; sink {bench.sink.url} (its own process); {os.cpu_count()} CPUs", flush=True)
    run_sections(bench, SECTIONS, args.only)
    wall = time.perf_counter() - started
    print_all_results(bench.tables)
    print(f"\nCells are median (min–max) of {plan.runs} runs; trigger rows: of the {plan.trigger_creates:,} creates. "
          f"Wall time {wall / 60:.1f} min.")
    merge_results(args.output, {
        'meta': {
            'date': datetime.datetime.now().isoformat(timespec='seconds'), 'database': args.db,
            'plan': dataclasses.asdict(plan), 'quick': args.quick, 'sections': args.only.split(','),
            'python': platform.python_version(), 'cpus': os.cpu_count(), 'machine': platform.platform(),
            'wall_seconds': round(wall, 1),
        },
        **{name: {'title': table['title'], 'figures': table['data']} for name, table in bench.tables.items()},
    })


if __name__ == '__main__':
    main(sys.argv[1:])
