"""What the native change capture costs the records' own transactions, side by side with no capture
at all and with automation rules.

`bench/run capture [--quick] [--only creates,bulk] [--creates 1000] [--runs 5] [--bulk 10000] [--bulk-runs 3]`

  creates  milliseconds per res.partner create + commit, each create in a committed transaction of its
           own (as a user saving a form), for each variant:
             bare                          no capture, no rule
             native capture, queued        Sync on create/update/delete, Delivery Mode queued
             native capture, immediate     the same, dispatched right after the commit by a thread of the
                                           committing process, to a sink answering at once
             guide's rule, queued          the user guide's hand-written rule: on create or write, a code
             guide's rule, immediate       action calling config._make_outbound_http_request(record, config.id)
             form's rule, queued           the rule the configuration form makes (on creation)
           The variants take turns round by round (--runs rounds of --creates/--runs creates each,
           their order rotating; a few warm-up creates before each run are not counted). A variant's
           ratio to bare is taken within each round (its run's median over bare's run median in
           the same round), then summarised over the rounds. For immediate variants, the seconds
           from the last save of a run until all its deliveries are settled are printed too (the
           sending thread competes with the next saves for this process's CPU, inside the figures).
  bulk     seconds of ONE create() of --bulk partners + commit, bare and with the queued native capture,
           taking turns; the INSERT INTO bj_api_sync_job statements the transaction sent (counted by
           wrapping Cursor.execute), the jobs written and the queries of the commit.

Every variant has its own configuration (mapping: id, name, email, phone, country_id.code; POST) and
rule, made before its run and deleted after it with its jobs and logs; nothing else captures meanwhile.
The partners created are deleted at the end. Cells are median (min–max) over the runs. Figures are
printed and merged into bench/results.json (sections capture and capture_bulk); nothing is asserted.
"""
# pylint: disable=print-used,invalid-commit  # a command-line benchmark: it prints its tables and commits its data
import argparse
import contextlib
import dataclasses
import datetime
import os
import platform
import re
import statistics
import sys
import time

import fixtures
from common import (
    BENCH_DIR,
    environment,
    merge_results,
    percentile,
    print_all_results,
    print_table,
    progress,
    registry,
    run_sections,
    spread,
    sql_queries,
    summary,
)
from sink import SinkProcess

REF = 'bench-capture:'   # res.partner.ref of the partners this benchmark creates
WARM_UP = 3              # creates before each measured run, not counted
JOB_INSERT = re.compile(r'INSERT\s+INTO\s+"?bj_api_sync_job"?[\s(]', re.IGNORECASE)


@dataclasses.dataclass
class Plan:
    creates: int = 1_000      # per variant, over all rounds
    runs: int = 5             # rounds
    bulk: int = 10_000        # partners of the one-transaction create
    bulk_runs: int = 3


QUICK = Plan(creates=60, runs=3, bulk=1_000, bulk_runs=3)
SECTIONS = ('creates', 'bulk')


@dataclasses.dataclass(frozen=True)
class Variant:
    key: str
    label: str
    make: object = None       # make(env, url) -> (config ids, rule ids)
    goal: float = None        # the goal for the ratio to bare


def _native(queued):
    def make(env, url):
        config = fixtures.capture_config(env, f"Capture native {'queued' if queued else 'immediate'}", url,
                                         queued, native=True)
        return [config.id], []
    return make


def _guide(queued):
    def make(env, url):
        config = fixtures.capture_config(env, f"Capture guide {'queued' if queued else 'immediate'}", url, queued)
        return [config.id], [fixtures.guide_rule(env, config).id]
    return make


def _form(env, url):
    config = fixtures.capture_config(env, 'Capture form rule', url, queued=True)
    return [config.id], [fixtures.automation(env, config, queued=True).id]


VARIANTS = [
    Variant('bare', 'bare (no capture, no rule)'),
    Variant('native_queued', 'native capture, queued', _native(True), 1.3),
    Variant('native_immediate', 'native capture, immediate', _native(False), 1.5),
    Variant('guide_queued', "guide's rule, queued", _guide(True)),
    Variant('guide_immediate', "guide's rule, immediate", _guide(False)),
    Variant('form_queued', "form's rule (on creation), queued", _form),
]
BULK_GOAL = 1.5


class CaptureBench:

    def __init__(self, db, plan):
        self.db = db
        self.plan = plan
        self.registry = registry(db)
        self.sink = SinkProcess()
        self.url = self.sink.url_for('captured', delay_ms=0)
        self.tables = {}
        self.made = 0   # partners created so far (their ref)

    def table(self, name, title, columns, rows, data):
        self.tables[name] = {'title': title, 'columns': columns, 'rows': rows, 'data': data}
        print_table(title, columns, rows)

    def prepare(self):
        with self.registry.cursor() as cr:
            env = environment(cr)
            fixtures.clean(env)
            self.country_id = env.ref('base.be').id
            self.dispatcher_id = env.ref('bj_api_sync.ir_cron_dispatch_jobs').id
        self.delete_partners()

    def values(self, label):
        self.made += 1
        return {'name': f'Bench Capture {label} {self.made}', 'ref': f'{REF}{self.made}',
                'email': f'capture{self.made}@example.com', 'phone': '+32 2 555 01 00',
                'country_id': self.country_id}

    # 1. One create per transaction -------------------------------------------------------

    def creates(self):
        plan = self.plan
        per_run = max(1, plan.creates // plan.runs)
        runs = {variant.key: [] for variant in VARIANTS}
        for round_ in range(plan.runs):
            shift = round_ % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                progress(f"creates: round {round_ + 1}/{plan.runs}, {variant.label}, {per_run:,} creates")
                runs[variant.key].append(self._run_creates(variant, per_run))
        rows, data = [], []
        bare = runs['bare']
        for variant in VARIANTS:
            variant_runs = runs[variant.key]
            medians = [statistics.median(run['ms']) for run in variant_runs]
            ratios = [median / statistics.median(bare_run['ms'])
                      for median, bare_run in zip(medians, bare, strict=True)]
            every = [ms for run in variant_runs for ms in run['ms']]
            creates = len(every)
            figures = {
                'variant': variant.label, 'key': variant.key, 'creates': creates, 'runs': len(variant_runs),
                'ms_per_create': summary(medians),
                'ms_mean_per_create': summary([statistics.fmean(run['ms']) for run in variant_runs]),
                'ms_p95': percentile(every, 95),
                'ratio_to_bare': summary(ratios),
                'goal_ratio': variant.goal,
                'queries_per_create': summary([statistics.median(run['queries']) for run in variant_runs]),
                'sink_requests': sum(run['requests'] for run in variant_runs),
                'jobs_queued': sum(run['jobs'] for run in variant_runs),
                'log_rows': sum(run['logs'] for run in variant_runs),
                'log_rows_not_success': sum(run['log_problems'] for run in variant_runs),
                'settled_after_last_create_s': [run['settled_after'] for run in variant_runs],
            }
            data.append(figures)
            rows.append([
                variant.label, spread(figures['ms_per_create'], 2), f"{figures['ms_p95']:,.2f}",
                spread(figures['ratio_to_bare'], 2) if variant.key != 'bare' else '1',
                goal_cell(variant.goal, figures['ratio_to_bare']['median']) if variant.key != 'bare' else '',
                spread(figures['queries_per_create']), f"{creates:,}",
                f"{figures['sink_requests']:,} ({figures['sink_requests'] / creates:.2f})",
                f"{figures['jobs_queued']:,} ({figures['jobs_queued'] / creates:.2f})",
                f"{figures['log_rows_not_success']:,}",
                '/'.join(f"{seconds:.2f}" for seconds in figures['settled_after_last_create_s'] if seconds is not None),
            ])
        self.table('capture', f"Change capture: ms per res.partner create + commit (one create per transaction), "
                              f"{plan.runs} rounds of {per_run:,} creates per variant, sink answering at once",
                   ['variant', 'ms/create', 'p95 ms', '× bare', 'goal', 'queries/create', 'creates',
                    'sink requests (/create)', 'jobs (/create)', 'logs not 2xx', 'all sent, s after the last save'],
                   rows, data)

    def _run_creates(self, variant, count):
        config_ids, rule_ids = self.setup(variant)
        try:
            for _index in range(WARM_UP):
                self._timed_create(variant.key)
            self._settled(0)  # the warm-up's deliveries reach the sink before it is reset
            with self.registry.cursor() as cr:
                cr.execute("SELECT COALESCE(MAX(id), 0) FROM bj_api_sync_job")
                [last_job] = cr.fetchone()
                cr.execute("SELECT COALESCE(MAX(id), 0) FROM bj_api_log")
                [last_log] = cr.fetchone()
            self.sink.reset()
            timed = [self._timed_create(variant.key) for _index in range(count)]
            settled_after = self._settled(last_job)
            requests = self.sink.stats()['requests']
            with self.registry.cursor() as cr:
                cr.execute("SELECT count(*) FROM bj_api_sync_job WHERE id > %s", [last_job])
                [jobs] = cr.fetchone()
                cr.execute("SELECT count(*), count(*) FILTER (WHERE status != 'success') FROM bj_api_log "
                           "WHERE id > %s", [last_log])
                logs, log_problems = cr.fetchone()
        finally:
            self.teardown(config_ids, rule_ids)
        return {'ms': [seconds * 1000 for seconds, _queries in timed], 'queries': [queries for _s, queries in timed],
                'requests': requests, 'jobs': jobs, 'logs': logs, 'log_problems': log_problems,
                'settled_after': settled_after}

    def _settled(self, last_job, timeout=120):
        """Seconds from the last create's commit until the deliveries of the run that the committing
        process sends itself (immediate: ``engine/outbox/eager.py``) are settled; None for queued runs,
        whose jobs wait for the dispatcher cron (not running here)."""
        started = time.perf_counter()
        while True:
            with self.registry.cursor() as cr:
                cr.execute("""SELECT count(*) FILTER (WHERE job.state IN ('pending', 'running')), count(*)
                                FROM bj_api_sync_job AS job JOIN bj_api_sync_config AS config ON config.id = job.config_id
                               WHERE job.id > %s AND config.delivery_mode = 'immediate'""", [last_job])
                unsettled, immediate = cr.fetchone()
            if not immediate:
                return None
            if not unsettled or time.perf_counter() - started > timeout:
                return time.perf_counter() - started
            time.sleep(0.01)

    def _timed_create(self, label):
        values = self.values(label)
        queries, started = sql_queries(), time.perf_counter()
        with self.registry.cursor() as cr:   # committed when the block ends: precommit and postcommit count
            environment(cr)['res.partner'].create(values)
        return time.perf_counter() - started, sql_queries() - queries

    def setup(self, variant):
        if not variant.make:
            return [], []
        with self.registry.cursor() as cr:
            return variant.make(environment(cr), self.url)

    def teardown(self, config_ids, rule_ids):
        """Delete the variant's rules, jobs, logs and configurations (the capture unhooks), and the
        dispatcher's wake-ups its commits left."""
        with self.registry.cursor() as cr:
            env = environment(cr)
            env['base.automation'].browse(rule_ids).exists().unlink()
            if config_ids:
                cr.execute("DELETE FROM bj_api_sync_job WHERE config_id = ANY(%s)", [config_ids])
                cr.execute("DELETE FROM bj_api_log WHERE config_id = ANY(%s)", [config_ids])
                env['bj.api.sync.config'].with_context(active_test=False).browse(config_ids).exists().unlink()
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [self.dispatcher_id])

    # 2. One transaction creating many ----------------------------------------------------

    def bulk(self):
        plan = self.plan
        runs = {'bare': [], 'native_queued': []}
        for round_ in range(plan.bulk_runs):
            order = ['bare', 'native_queued'] if round_ % 2 == 0 else ['native_queued', 'bare']
            for key in order:
                progress(f"bulk: round {round_ + 1}/{plan.bulk_runs}, {key}, create() of {plan.bulk:,} partners")
                runs[key].append(self._run_bulk(key == 'native_queued', plan.bulk))
        rows, data = [], []
        for key, label, goal in [('bare', 'bare (no capture)', None),
                                 ('native_queued', 'native capture, queued', BULK_GOAL)]:
            key_runs = runs[key]
            ratios = [run['seconds'] / bare['seconds'] for run, bare in zip(key_runs, runs['bare'], strict=True)]
            figures = {
                'variant': label, 'key': key, 'records': plan.bulk, 'runs': len(key_runs),
                'seconds': summary([run['seconds'] for run in key_runs]),
                'create_seconds': summary([run['create_seconds'] for run in key_runs]),
                'commit_seconds': summary([run['commit_seconds'] for run in key_runs]),
                'ratio_to_bare': summary(ratios), 'goal_ratio': goal,
                'job_inserts': [run['job_inserts'] for run in key_runs],
                'job_inserts_in_commit': [run['job_inserts_in_commit'] for run in key_runs],
                'jobs': [run['jobs'] for run in key_runs],
                'queries': summary([run['queries'] for run in key_runs]),
                'commit_queries': summary([run['commit_queries'] for run in key_runs]),
            }
            data.append(figures)
            rows.append([label, f"{plan.bulk:,}", spread(figures['seconds'], 2), spread(figures['create_seconds'], 2),
                         spread(figures['commit_seconds'], 2), spread(figures['ratio_to_bare'], 2) if goal else '1',
                         goal_cell(goal, figures['ratio_to_bare']['median']) if goal else '',
                         '/'.join(map(str, figures['job_inserts'])), '/'.join(f"{jobs:,}" for jobs in figures['jobs']),
                         spread(figures['queries']), spread(figures['commit_queries'])])
        self.table('capture_bulk', f"Change capture: one create() of {plan.bulk:,} res.partner + commit, "
                                   f"{plan.bulk_runs} runs each, taking turns",
                   ['variant', 'records', 'seconds', 'create() s', 'commit s', '× bare', 'goal',
                    'job INSERTs (per run)', 'jobs (per run)', 'queries', 'queries in commit'], rows, data)

    def _run_bulk(self, capturing, count):
        config_ids = []
        if capturing:
            with self.registry.cursor() as cr:
                config_ids = [fixtures.capture_config(environment(cr), 'Capture bulk', self.url, queued=True,
                                                      native=True).id]
        values = [self.values('bulk') for _index in range(count)]
        try:
            with counting(JOB_INSERT) as inserts, self.registry.cursor() as cr:
                Partner = environment(cr)['res.partner']
                queries, started = sql_queries(), time.perf_counter()
                Partner.create(values)
                created, created_queries, inserts_before_commit = time.perf_counter(), sql_queries(), inserts['count']
                cr.commit()
                committed, committed_queries = time.perf_counter(), sql_queries()
            with self.registry.cursor() as cr:
                cr.execute("SELECT count(*) FROM bj_api_sync_job WHERE config_id = ANY(%s)", [config_ids])
                [jobs] = cr.fetchone()
        finally:
            self.teardown(config_ids, [])
        self.delete_partners()
        return {'seconds': committed - started, 'create_seconds': created - started,
                'commit_seconds': committed - created, 'queries': committed_queries - queries,
                'commit_queries': committed_queries - created_queries, 'job_inserts': inserts['count'],
                'job_inserts_in_commit': inserts['count'] - inserts_before_commit, 'jobs': jobs}

    def delete_partners(self):
        """Delete the partners this benchmark created (no capture is on by then)."""
        with self.registry.cursor() as cr:
            Partner = environment(cr)['res.partner'].with_context(active_test=False, tracking_disable=True)
            partners = Partner.search([('ref', '=like', f'{REF}%')])
            if partners:
                progress(f"deleting {len(partners):,} partners created")
                partners.unlink()

    def stop(self):
        self.delete_partners()
        with self.registry.cursor() as cr:
            fixtures.clean(environment(cr))
        self.sink.stop()


@contextlib.contextmanager
def counting(pattern):
    """``with counting(re) as counts:`` the statements matching ``re`` that any cursor of this process
    executes in the block: ``counts['count']``."""
    from odoo import sql_db
    original = sql_db.Cursor.execute
    counts = {'count': 0}

    def execute(self, query, *args, **kwargs):
        code = getattr(query, 'code', query)
        if isinstance(code, bytes):
            code = code.decode(errors='replace')
        if isinstance(code, str) and pattern.search(code):
            counts['count'] += 1
        return original(self, query, *args, **kwargs)

    sql_db.Cursor.execute = execute
    try:
        yield counts
    finally:
        sql_db.Cursor.execute = original


def goal_cell(goal, ratio):
    if goal is None:
        return 'reported'
    return f"≤ {goal:.1f}× ({'within' if ratio <= goal else 'over'})"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='bench/run capture', description=__doc__.split('\n\n')[0])
    parser.add_argument('db')
    parser.add_argument('--quick', action='store_true', help="small N: a check in a minute or two")
    parser.add_argument('--only', default=','.join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    parser.add_argument('--creates', type=int, help="creates per variant over all rounds (default 1,000; --quick 60)")
    parser.add_argument('--runs', type=int, help="rounds of the creates (default 5; --quick 3)")
    parser.add_argument('--bulk', type=int,
                        help="partners of the one-transaction create (default 10,000; --quick 1,000)")
    parser.add_argument('--bulk-runs', type=int, help="runs of each bulk variant (default 3)")
    parser.add_argument('--output', default=os.path.join(BENCH_DIR, 'results.json'),
                        help="JSON file the sections are merged into")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(',')) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    plan = QUICK if args.quick else Plan()
    overrides = {'creates': args.creates, 'runs': args.runs, 'bulk': args.bulk, 'bulk_runs': args.bulk_runs}
    return args, dataclasses.replace(plan, **{key: value for key, value in overrides.items() if value})


def main(argv):
    args, plan = parse_args(argv)
    from odoo import release
    started = time.perf_counter()
    bench = CaptureBench(args.db, plan)
    print(f"bj_api_sync change capture benchmark on {args.db}, Odoo {release.version}: "
          f"{'quick' if args.quick else 'full'} plan {dataclasses.asdict(plan)}; sink {bench.sink.url} "
          f"(its own process); {os.cpu_count()} CPUs", flush=True)
    run_sections(bench, SECTIONS, args.only)
    wall = time.perf_counter() - started
    print_all_results(bench.tables)
    print(f"\nCells are median (min–max) over the runs; ms/create: of each run's median; p95: of every create; "
          f"× bare: per round, the variant's run median over bare's. Goals are the issue's. "
          f"Wall time {wall / 60:.1f} min.")
    meta = {'date': datetime.datetime.now().isoformat(timespec='seconds'), 'database': args.db,
            'odoo': release.version, 'plan': dataclasses.asdict(plan), 'quick': args.quick,
            'warm_up_creates': WARM_UP, 'python': platform.python_version(), 'cpus': os.cpu_count(),
            'machine': platform.platform(), 'wall_seconds': round(wall, 1)}
    merge_results(args.output, {name: {'title': table['title'], 'meta': meta, 'figures': table['data']}
                                for name, table in bench.tables.items()})


if __name__ == '__main__':
    main(sys.argv[1:])
