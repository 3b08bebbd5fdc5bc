"""Queued delivery under concurrency: dispatchers in parallel, on committed data.

The dispatcher works in transactions of its own, so this test commits its data
(in cursors of its own) and removes all of it afterwards.
"""
import collections
import threading
from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tests import tagged

from ..engine.outbox import dispatcher as outbox
from .common import BjApiCase, Reply
from .test_outbox import header

RECORDS = 20
JOBS_PER_RECORD = 3


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestOutboxConcurrency(BjApiCase):

    def commit_jobs(self, **config_values):
        """A queued config and its jobs, committed: RECORDS records with JOBS_PER_RECORD jobs each."""
        with self.registry.cursor() as cr:
            cr.execute("SELECT COUNT(*) FROM bj_api_sync_job WHERE state IN ('pending', 'running')")
            if cr.fetchone()[0]:
                self.skipTest("the database has queued deliveries of its own: the dispatchers would send them")
            env = api.Environment(cr, SUPERUSER_ID, {})
            cron = env.ref('bj_api_sync.ir_cron_dispatch_jobs')
            cr.execute("SELECT COALESCE(MAX(id), 0) FROM ir_cron_trigger")
            last_trigger = cr.fetchone()[0]
            config = env['bj.api.sync.config'].create({
                'name': 'Concurrency test (removed after the test)',
                'model_id': env['ir.model']._get('res.partner').id,
                'url': self.api.url('/concurrent'),
                'http_method_ids': [(6, 0, env.ref('bj_api_sync.http_method_post').ids)],
                'delivery_mode': 'queued',
                'queue_retry_schedule': '1s',
                **config_values,
            })
            self.addCleanup(self.remove, config.id, cron.id, last_trigger)
            jobs = env['bj.api.sync.job'].create([{
                'name': f'job {number}',
                'config_id': config.id,
                'http_method': 'POST',
                'body': f'{{"number": {number}}}',
                'res_model': 'res.partner',
                'res_ids': str(900000 + number % RECORDS),
                'ordering_key': f'{config.id}:res.partner:{900000 + number % RECORDS}',
                'max_attempts': 2,
            } for number in range(RECORDS * JOBS_PER_RECORD)])
            # Jobs of one record, in creation (id) order.
            by_record = collections.defaultdict(list)
            for job in jobs.sorted('id'):
                by_record[job.ordering_key].append(job.idempotency_key)
            return config.id, jobs.ids, by_record

    def remove(self, config_id, cron_id, last_trigger):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM bj_api_log WHERE config_id = %s", [config_id])
            cr.execute("DELETE FROM bj_api_sync_job WHERE config_id = %s", [config_id])
            cr.execute("DELETE FROM bj_api_sync_token WHERE token_url LIKE %s", [f"{self.api.url('/oauth')}%"])
            env = api.Environment(cr, SUPERUSER_ID, {})
            env['bj.api.sync.config'].browse(config_id).unlink()
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s AND id > %s", [cron_id, last_trigger])

    def run_two_dispatchers(self):
        barrier = threading.Barrier(2)
        sent, errors = {}, []

        def dispatcher(number):
            try:
                barrier.wait(timeout=10)
                sent[number] = outbox.dispatch(self.registry)
            except Exception as error:  # noqa: BLE001 - reported by the test below
                errors.append(error)

        threads = [threading.Thread(target=dispatcher, args=(number,)) for number in range(2)]
        # The test runner holds the registries' lock while tests run; a cron worker would not.
        with patch.object(Registry, '_lock', threading.RLock()):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        self.assertFalse(any(thread.is_alive() for thread in threads), "dispatchers did not finish")
        self.assertEqual(errors, [])
        return sent

    def test_two_dispatchers_send_each_job_exactly_once(self):
        config_id, job_ids, by_record = self.commit_jobs()
        # A little latency per request, so both dispatchers are surely busy at the same time.
        self.api.default = Reply(delay=0.01)
        sent = self.run_two_dispatchers()

        received = collections.Counter(header(request, 'Idempotency-Key') for request in self.api.received)
        expected = {key for keys in by_record.values() for key in keys}
        self.assertEqual(set(received), expected)
        self.assertEqual([key for key, count in received.items() if count != 1], [], "a job was sent twice")
        self.assertEqual(sum(sent.values()), len(job_ids))
        self.assertTrue(all(sent.get(number) for number in range(2)), f"both dispatchers worked: {sent}")
        # Jobs of one record arrived in order, even with two dispatchers.
        order = [header(request, 'Idempotency-Key') for request in self.api.received]
        for keys in by_record.values():
            self.assertEqual(sorted(keys, key=order.index), keys)

        with self.registry.cursor() as cr:
            cr.execute("SELECT state, attempts, COUNT(*) FROM bj_api_sync_job WHERE config_id = %s "
                       "GROUP BY state, attempts", [config_id])
            self.assertEqual(cr.fetchall(), [('done', 1, len(job_ids))])
            cr.execute("SELECT status, COUNT(*) FROM bj_api_log WHERE config_id = %s GROUP BY status", [config_id])
            self.assertEqual(cr.fetchall(), [('success', len(job_ids))])

    def test_two_dispatchers_share_one_oauth2_token(self):
        """Both dispatchers need a token at once: one fetches it (holding the cache row's lock),
        the other waits and uses it. The token endpoint (this test's API, /oauth/token) is slow."""
        config_id, job_ids, _by_record = self.commit_jobs(
            auth_type='oauth2', oauth2_token_url=self.api.url('/oauth/token'), oauth2_client_id='concurrent-client',
            oauth2_client_secret='concurrent-secret')
        token = {'access_token': 'shared-token-1', 'expires_in': 3600}
        self.api.reply(Reply(200, token, delay=0.3))
        self.api.default = Reply(delay=0.01)
        sent = self.run_two_dispatchers()
        self.assertEqual(sum(sent.values()), len(job_ids))
        token_requests = [request for request in self.api.received if request.path == '/oauth/token']
        deliveries = [request for request in self.api.received if request.path == '/concurrent']
        self.assertEqual(len(token_requests), 1)
        self.assertEqual(len(deliveries), len(job_ids))
        self.assertEqual({header(request, 'Authorization') for request in deliveries}, {'Bearer shared-token-1'})

    def test_rate_limit_and_max_concurrency_hold_across_two_dispatchers(self):
        config_id, job_ids, _by_record = self.commit_jobs(rate_limit=20, max_concurrency=3)
        self.api.default = Reply(delay=0.05)
        sent = self.run_two_dispatchers()
        self.assertEqual(sum(sent.values()), len(job_ids))
        self.assertTrue(all(sent.get(number) for number in range(2)), f"neither dispatcher starved: {sent}")
        self.assertLessEqual(self.api.most_in_flight, 3)
        arrivals = sorted(received.at for received in self.api.received)
        # Slots are 50 ms apart whoever takes them: 60 requests need at least 59 intervals.
        self.assertGreaterEqual(arrivals[-1] - arrivals[0], 59 / 20 * 0.97)
        with self.registry.cursor() as cr:
            cr.execute("SELECT COUNT(*) FROM bj_api_sync_job WHERE config_id = %s AND state = 'done'", [config_id])
            self.assertEqual(cr.fetchone()[0], len(job_ids))
