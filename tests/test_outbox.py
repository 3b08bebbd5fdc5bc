"""Queued delivery (issue "Delivery that loses nothing"): outbox jobs, dispatch, retries, operators."""
import base64
import datetime
import email.utils
import hashlib
import hmac
import http.server
import json
import socket
import threading
import time
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import config

from ..engine.outbound import jobs, profile
from ..engine.outbox import budget as cron
from ..engine.outbox import dispatcher as outbox
from .common import BjApiCase, FakeApi, Reply


def header(received, name):
    """A request header, whatever the case it was sent in."""
    return {key.lower(): value for key, value in received.headers.items()}.get(name.lower())


class LateApi(FakeApi):
    """A fake API whose port is reserved but refuses connections until ``start()``:
    the endpoint is down, then comes back on the same URL."""

    def __init__(self):
        super().__init__()
        handler = self.server.RequestHandlerClass
        self.server.server_close()
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))  # bound, not listening: connections are refused
        self.server = http.server.ThreadingHTTPServer(sock.getsockname(), handler, bind_and_activate=False)
        self.server.socket.close()
        self.server.socket = sock
        self.server.server_port = sock.getsockname()[1]
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.started = False

    def start(self):
        self.server.server_activate()
        self.started = True
        return super().start()

    def stop(self):
        if self.started:
            return super().stop()
        return self.server.server_close()


class OutboxCase(BjApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.config = cls.env['bj.api.sync.config'].create({
            'name': 'Queued partners',
            'model_id': cls.partner_model.id,
            'url': cls.api.url('/partners'),
            'http_method_ids': [(6, 0, cls.method_post.ids)],
            'delivery_mode': 'queued',
            'queue_retry_schedule': '1s, 2s',
            'line_ids': [(0, 0, {'api_key': 'name', 'field_path': 'name'})],
        })
        cls.Job = cls.env['bj.api.sync.job']
        cls.dispatch_cron = cls.env.ref('bj_api_sync.ir_cron_dispatch_jobs')

    def dispatch(self):
        """Run the dispatcher as its cron would; its cursors share this test's transaction."""
        self.env.flush_all()
        # As after a commit: what happens next in the test is a new transaction, woken anew.
        self.env.cr.precommit.data.pop(jobs._WOKEN, None)
        try:
            with self.shared_cursors():
                return self.Job._cron_dispatch()
        finally:
            self.env.invalidate_all()

    def partner(self, name='Partner', **values):
        return self.env['res.partner'].create({'name': name, **values})

    def queue(self, records, config=None, **kwargs):
        """A queued call; returns its jobs."""
        result = (config or self.config)._make_outbound_http_request(records, **kwargs)
        self.assertTrue(result['queued'])
        return self.Job.browse(result['job_ids'])

    def make_due(self, jobs):
        """Time passes: the jobs' next attempt is now due."""
        # The claim compares with the database's clock: in a test, the transaction's start.
        jobs.write({'next_attempt_at': self.env.cr.now() - datetime.timedelta(minutes=1)})

    def keys(self):
        return [header(received, 'Idempotency-Key') for received in self.api.received]

    def triggers(self):
        return self.env['ir.cron.trigger'].search_count([('cron_id', '=', self.dispatch_cron.id)])


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestOutboxBasics(OutboxCase):

    def test_queued_call_stores_a_job_and_dispatch_sends_it(self):
        partner = self.env['res.partner'].create({'name': 'Queued'})
        result = self.config._make_outbound_http_request(partner)
        self.assertTrue(result['queued'])
        self.assertEqual(self.api.received, [])
        job = self.Job.browse(result['job_ids'])
        self.assertEqual((job.state, job.http_method, job.res_ids), ('pending', 'POST', str(partner.id)))
        self.assertEqual(self.dispatch(), 1)
        [received] = self.api.received
        self.assertEqual(received.json, {'name': 'Queued'})
        self.assertEqual(received.headers['Idempotency-Key'], job.idempotency_key)
        self.assertEqual((job.state, job.attempts), ('done', 1))
        self.assertEqual(job.log_ids.status, 'success')

    def test_result_dict_and_job_in_same_transaction(self):
        partners = self.partner('A') | self.partner('B')
        result = self.config._make_outbound_http_request(partners)
        self.assertEqual((result['queued'], result['success'], result['errors']), (True, True, []))
        self.assertEqual(len(result['job_ids']), 2)
        # Stored in this transaction, before any commit or dispatch.
        self.env.cr.execute("SELECT res_ids, state FROM bj_api_sync_job WHERE id IN %s ORDER BY id",
                            [tuple(result['job_ids'])])
        self.assertEqual(self.env.cr.fetchall(), [(str(partners[0].id), 'pending'), (str(partners[1].id), 'pending')])
        jobs = self.Job.browse(result['job_ids'])
        self.assertEqual(len(set(jobs.mapped('idempotency_key'))), 2)
        # In order per record within the config's remote id scope (by default its name).
        self.assertEqual(jobs.mapped('ordering_key'),
                         [f"{self.config.remote_id_scope}:res.partner:{partner.id}" for partner in partners])
        self.assertEqual(set(jobs.mapped('max_attempts')), {3}, "schedule '1s, 2s': 1 attempt + 2 retries")
        self.assertEqual(self.api.received, [], "nothing is sent before dispatch")
        self.assertFalse(self.logs(self.config), "nothing was attempted yet")

    def test_body_is_the_snapshot_taken_at_enqueue(self):
        partner = self.partner('Before')
        job = self.queue(partner)
        partner.name = 'After'
        self.assertEqual(json.loads(job.body), {'name': 'Before'})
        self.dispatch()
        self.assertEqual([received.json for received in self.api.received], [{'name': 'Before'}])

    def test_queued_true_per_call_on_immediate_config(self):
        immediate = self.config.copy({'name': 'Immediate partners', 'delivery_mode': 'immediate'})
        partner = self.partner('Per call')
        job = self.queue(partner, config=immediate, queued=True)
        self.assertEqual((job.config_id, job.state), (immediate, 'pending'))
        self.assertEqual(self.api.received, [])
        self.dispatch()
        self.assertEqual([received.json for received in self.api.received], [{'name': 'Per call'}])
        # Without the flag, the immediate config still sends at once.
        result = immediate._make_outbound_http_request(partner)
        self.assertFalse(result.get('queued'))
        self.assertEqual(len(self.api.received), 2)

    def test_queued_false_sends_at_once(self):
        partner = self.partner('Now')
        result = self.config._make_outbound_http_request(partner, queued=False)
        self.assertFalse(result.get('queued'))
        self.assertEqual((result['success'], result['status_code']), (True, 200))
        self.assertEqual([received.json for received in self.api.received], [{'name': 'Now'}])
        self.assertFalse(self.Job.search([('config_id', '=', self.config.id)]))

    def test_skipped_and_failing_records_are_logged_without_job(self):
        config = self.config.copy({
            'name': 'Queued, filtered',
            'domain': "[('name', 'not like', 'Internal%')]",
            'line_ids': [(0, 0, {'api_key': 'name', 'value_type': 'python',
                                 'python_code': "1 / 0 if record.name == 'Broken' else record.name"})],
        })
        good, internal, broken = self.partner('Good'), self.partner('Internal'), self.partner('Broken')
        result = config._make_outbound_http_request(good | internal | broken)
        self.assertTrue(result['queued'])
        self.assertFalse(result['success'])
        self.assertEqual(result['skipped_ids'], [internal.id])
        self.assertEqual(len(result['errors']), 1)
        self.assertIn('ZeroDivisionError', result['errors'][0])
        job = self.Job.browse(result['job_ids'])
        self.assertEqual(job.res_ids, str(good.id))
        self.assertEqual(self.Job.search([('config_id', '=', config.id)]), job)
        logs = self.logs(config)
        self.assertEqual(sorted(logs.mapped('status')), ['error', 'skipped'])
        self.assertEqual(sorted(result['log_ids']), sorted(logs.ids))
        self.assertFalse(logs.job_id)
        self.assertEqual(logs.filtered(lambda log: log.status == 'skipped').res_ids, str(internal.id))
        self.assertEqual(logs.filtered(lambda log: log.status == 'error').res_ids, str(broken.id))
        self.dispatch()
        self.assertEqual([received.json for received in self.api.received], [{'name': 'Good'}])

    def test_archived_config_queues_nothing(self):
        self.config.active = False
        result = self.config._make_outbound_http_request(self.partner('Archived'))
        self.assertEqual(result['job_ids'], [])
        self.assertEqual(self.logs(self.config).mapped('status'), ['skipped'])

    def test_jobs_store_no_secret(self):
        password, token, api_key = 'pa55-w0rd-basic', 'tok-bearer-123456', 'key-header-987654'
        config = self.config.copy({
            'name': 'Queued with secrets',
            'auth_type': 'basic', 'auth_login': 'odoo', 'auth_password': password,
            'header_ids': [(0, 0, {'key': 'X-Api-Key', 'value': api_key})],
        })
        basic = base64.b64encode(f'odoo:{password}'.encode()).decode()
        job = self.queue(self.partner('Secretive'), config=config)
        self.env.flush_all()
        self.env.cr.execute("SELECT row_to_json(job)::text FROM bj_api_sync_job AS job WHERE id = %s", [job.id])
        stored = self.env.cr.fetchone()[0]
        for secret in (password, basic, api_key):
            self.assertNotIn(secret, stored)
        self.dispatch()
        [received] = self.api.received
        self.assertEqual(header(received, 'Authorization'), f'Basic {basic}')
        self.assertEqual(header(received, 'X-Api-Key'), api_key)
        self.assertEqual(job.state, 'done')

        config.write({'auth_type': 'bearer', 'bearer_token': token})
        job = self.queue(self.partner('Bearer'), config=config)
        self.env.flush_all()
        self.env.cr.execute("SELECT row_to_json(job)::text FROM bj_api_sync_job AS job WHERE id = %s", [job.id])
        stored = self.env.cr.fetchone()[0]
        for secret in (token, api_key, password):
            self.assertNotIn(secret, stored)
        self.dispatch()
        self.assertEqual(header(self.api.received[-1], 'Authorization'), f'Bearer {token}')
        self.env.cr.execute("SELECT row_to_json(log)::text FROM bj_api_log AS log WHERE config_id = %s", [config.id])
        for (row,) in self.env.cr.fetchall():
            for secret in (password, basic, token, api_key):
                self.assertNotIn(secret, row)

    def test_credentials_in_the_url_are_not_stored_but_sent(self):
        config = self.config.copy({'url': self.api.url('/partners').replace('://', '://urluser:url-pa55-word@')})
        job = self.queue(self.partner('In URL'), config=config)
        self.env.flush_all()
        self.env.cr.execute("SELECT row_to_json(job)::text FROM bj_api_sync_job AS job WHERE id = %s", [job.id])
        self.assertNotIn('url-pa55-word', self.env.cr.fetchone()[0])
        self.dispatch()
        basic = base64.b64encode(b'urluser:url-pa55-word').decode()
        self.assertEqual(header(self.api.received[-1], 'Authorization'), f'Basic {basic}')
        self.assertEqual(job.state, 'done')
        self.assertNotIn('url-pa55-word', job.log_ids.url + job.log_ids.request_headers)

    def test_rollback_after_enqueue_sends_nothing(self):
        triggers = self.triggers()
        with self.assertRaises(RuntimeError), self.env.cr.savepoint():
            jobs = self.queue(self.partner('Rolled back'))
            self.assertTrue(jobs)
            self.env.flush_all()
            raise RuntimeError("the caller's operation fails after queuing")
        self.env.invalidate_all()
        self.assertFalse(self.Job.search([('config_id', '=', self.config.id)]))
        self.assertEqual(self.triggers(), triggers)
        self.assertEqual(self.dispatch(), 0)
        self.assertEqual(self.api.received, [])

    def test_dispatcher_crons_exist_and_enqueue_wakes_the_dispatcher(self):
        self.assertEqual(self.dispatch_cron.model_id.model, 'bj.api.sync.job')
        self.assertEqual(self.dispatch_cron.code.strip(), 'model._cron_dispatch()')
        self.assertTrue(self.dispatch_cron.active)
        # The clean-up is Odoo's own daily autovacuum.
        self.assertTrue(getattr(type(self.Job)._gc_done_deliveries_and_logs, '_autovacuum', False))
        before = self.triggers()
        self.queue(self.partner('Wake up'))
        self.assertEqual(self.triggers(), before + 1)
        [trigger] = self.env['ir.cron.trigger'].search(
            [('cron_id', '=', self.dispatch_cron.id)], order='id desc', limit=1)
        self.assertLessEqual(trigger.call_at, fields.Datetime.now())
        # An immediate call does not.
        self.config._make_outbound_http_request(self.partner('Now'), queued=False)
        self.assertEqual(self.triggers(), before + 1)

    def test_cron_method_dispatches(self):
        self.queue(self.partner('By cron'))
        self.env.flush_all()
        self.run_cron(self.dispatch_cron)
        self.env.invalidate_all()
        self.assertEqual([received.json for received in self.api.received], [{'name': 'By cron'}])


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestOutboxAutomation(OutboxCase):

    def create_rule(self, config=None, **values):
        wizard = self.env['bj.api.sync.trigger.wizard'].create({
            'config_id': (config or self.config).id, 'kind': 'automation', **values})
        action = wizard.action_create()
        rule = self.env[action['res_model']].browse(action['res_id'])
        # The rule follows the config's delivery mode (queued here): its code says nothing of it.
        self.assertNotIn('queued', rule.action_server_ids.code)
        return rule

    def config_jobs(self, config=None):
        return self.Job.search([('config_id', '=', (config or self.config).id)], order='id')

    def test_one_job_per_record_per_transaction_with_final_state(self):
        self.config.line_ids = [(0, 0, {'api_key': 'email', 'field_path': 'email'})]
        self.create_rule(trigger='on_create_or_write')
        partner = self.partner('Draft')
        partner.write({'email': 'a@example.com'})
        partner.write({'name': 'Final'})
        self.env.flush_all()
        self.assertFalse(self.config_jobs(), "the job is created at commit time")
        self.commit()
        job = self.config_jobs()
        self.assertEqual(len(job), 1)
        self.assertEqual(json.loads(job.body), {'name': 'Final', 'email': 'a@example.com'})
        self.assertEqual(self.api.received, [], "a queued rule sends nothing at commit")
        self.assertEqual(self.dispatch(), 1)
        self.assertEqual([received.json for received in self.api.received],
                         [{'name': 'Final', 'email': 'a@example.com'}])
        # The next transaction makes the next job.
        partner.write({'email': 'b@example.com'})
        self.commit()
        self.assertEqual(len(self.config_jobs()), 2)
        self.dispatch()
        self.assertEqual(self.api.received[-1].json, {'name': 'Final', 'email': 'b@example.com'})

    def test_rule_follows_the_configs_delivery_mode(self):
        """The config says Immediate: its rule's delivery is sent right after commit (by the committing
        process, engine/outbox/eager.py). Switched to Queued, the same rule queues for the dispatcher cron."""
        immediate = self.config.copy({'name': 'Immediate partners', 'delivery_mode': 'immediate'})
        self.create_rule(config=immediate, trigger='on_create')
        self.partner('Ruled')
        self.commit()
        self.assertEqual(self.config_jobs(immediate).mapped('state'), ['done'])
        self.assertEqual([received.json['name'] for received in self.api.received], ['Ruled'])
        immediate.delivery_mode = 'queued'
        self.partner('Ruled too')
        self.commit()
        self.assertEqual(self.config_jobs(immediate).mapped('state'), ['done', 'pending'])
        self.assertEqual(len(self.api.received), 1)
        self.assertEqual(self.dispatch(), 1)
        self.assertEqual([received.json['name'] for received in self.api.received], ['Ruled', 'Ruled too'])

    def test_record_deleted_in_the_same_transaction_is_queued_from_its_snapshot(self):
        self.create_rule(trigger='on_create_or_write')
        partner = self.partner('Ephemeral')
        partner_id = partner.id
        partner.unlink()
        self.commit()
        job = self.config_jobs()
        self.assertEqual((job.res_ids, json.loads(job.body)), (str(partner_id), {'name': 'Ephemeral'}))
        self.dispatch()
        self.assertEqual(job.state, 'done')


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestOutboxRetries(OutboxCase):

    def assertBetween(self, value, low, high):
        high += datetime.timedelta(seconds=1)  # ``high`` was read from a clock truncated to the second
        self.assertTrue(low <= value <= high, f"{value} not within [{low}, {high}]")

    def test_endpoint_down_then_back_is_delivered_once(self):
        late = LateApi()
        self.addCleanup(late.stop)
        config = self.config.copy({'name': 'Down then back', 'url': late.url('/partners'),
                                   'queue_retry_schedule': '100s, 200s'})
        job = self.queue(self.partner('Patient'), config=config)
        before = fields.Datetime.now()
        self.assertEqual(self.dispatch(), 1)
        after = fields.Datetime.now()
        self.assertEqual((job.state, job.attempts), ('pending', 1))
        self.assertRegex(job.last_error, r'^Connection refused by 127\.0\.0\.1:\d+$')
        self.assertFalse(job.last_status_code)
        self.assertFalse(job.lease_until)
        # The schedule's first wait, 100 s ± 20 % jitter.
        self.assertBetween(job.next_attempt_at, before + datetime.timedelta(seconds=80),
                           after + datetime.timedelta(seconds=120))
        [log] = job.log_ids
        # Each dispatch makes one attempt; the queue will try again, and its log says so.
        self.assertEqual((log.status, log.attempt, log.config_id), ('retry', 1, config))
        self.assertEqual(self.dispatch(), 0, "not due yet")
        late.start()
        self.make_due(job)
        self.assertEqual(self.dispatch(), 1)
        self.assertEqual((job.state, job.attempts, job.last_status_code), ('done', 2, 200))
        self.assertFalse(job.last_error)
        self.assertTrue(job.done_at)
        self.assertEqual(len(late.received), 1, "delivered exactly once")
        self.assertEqual(header(late.received[0], 'Idempotency-Key'), job.idempotency_key)
        logs = job.log_ids.sorted('id')
        self.assertEqual(logs.mapped('status'), ['retry', 'success'])
        self.assertEqual(logs.mapped('attempt'), [1, 2])
        self.assertEqual(self.dispatch(), 0)

    def test_503_is_retried_on_schedule_with_the_same_idempotency_key(self):
        self.config.queue_retry_schedule = '100s, 200s, 300s'
        job = self.queue(self.partner('Flaky'))
        self.assertEqual(job.max_attempts, 4)
        self.api.reply(Reply(503, {'error': 'busy'}), Reply(502))
        for wait in (100, 200):
            before = fields.Datetime.now()
            self.dispatch()
            after = fields.Datetime.now()
            self.assertEqual(job.state, 'pending')
            self.assertIn('HTTP 50', job.last_error)
            self.assertBetween(job.next_attempt_at, before + datetime.timedelta(seconds=wait * 0.8),
                               after + datetime.timedelta(seconds=wait * 1.2))
            self.make_due(job)
        self.dispatch()
        self.assertEqual((job.state, job.attempts), ('done', 3))
        self.assertEqual(self.keys(), [job.idempotency_key] * 3)
        self.assertEqual(job.log_ids.sorted('id').mapped('response_status_code'), [503, 502, 200])
        self.assertEqual(job.log_ids.sorted('id').mapped('attempt'), [1, 2, 3])

    def test_retry_after_seconds_wins_over_schedule(self):
        job = self.queue(self.partner('Later'))
        self.api.reply(Reply(503, headers={'Retry-After': '120'}))
        before = fields.Datetime.now()
        self.dispatch()
        after = fields.Datetime.now()
        self.assertEqual(job.state, 'pending')
        self.assertBetween(job.next_attempt_at, before + datetime.timedelta(seconds=120),
                           after + datetime.timedelta(seconds=121))
        self.assertEqual(self.dispatch(), 0)

    def test_retry_after_http_date(self):
        job = self.queue(self.partner('Later'))
        self.api.reply(Reply(429, headers={'Retry-After': email.utils.formatdate(time.time() + 300, usegmt=True)}))
        before = fields.Datetime.now()
        self.dispatch()
        after = fields.Datetime.now()
        self.assertEqual(job.state, 'pending')
        self.assertBetween(job.next_attempt_at, before + datetime.timedelta(seconds=298),
                           after + datetime.timedelta(seconds=301))

    def test_retry_after_is_capped(self):
        job = self.queue(self.partner('Much later'))
        self.api.reply(Reply(503, headers={'Retry-After': str(30 * 86400)}))
        before = fields.Datetime.now()
        self.dispatch()
        after = fields.Datetime.now()
        day = datetime.timedelta(days=1)
        self.assertBetween(job.next_attempt_at, before + day, after + day + datetime.timedelta(seconds=1))

    def test_client_errors_fail_at_once(self):
        for status in (400, 401):
            with self.subTest(status=status):
                self.api.reset()
                job = self.queue(self.partner(f'Refused {status}'))
                self.api.reply(Reply(status, {'error': 'no'}))
                self.assertEqual(self.dispatch(), 1)
                self.assertEqual((job.state, job.attempts, job.last_status_code), ('failed', 1, status))
                self.assertIn(f'HTTP {status}', job.last_error)
                self.assertEqual(job.log_ids.status, 'error')
                self.make_due(job)
                self.assertEqual(self.dispatch(), 0, "a failed job is not retried")
                self.assertEqual(len(self.api.received), 1)

    def test_max_attempts_then_dead_then_retry_now(self):
        self.config.queue_retry_schedule = '1s'
        job = self.queue(self.partner('Doomed'))
        self.assertEqual(job.max_attempts, 2)
        self.api.reply(Reply(503), Reply(503))
        self.dispatch()
        self.assertEqual((job.state, job.attempts), ('pending', 1))
        self.make_due(job)
        self.dispatch()
        self.assertEqual((job.state, job.attempts, job.last_status_code), ('dead', 2, 503))
        self.assertTrue(job.last_error)
        self.make_due(job)
        self.assertEqual(self.dispatch(), 0, "a dead job is not sent again")
        triggers = self.triggers()
        job.action_retry_now()
        self.assertEqual((job.state, job.attempts), ('pending', 0))
        self.assertFalse(job.last_error)
        self.assertLessEqual(job.next_attempt_at, self.env.cr.now())
        self.assertEqual(self.triggers(), triggers + 1, "retrying wakes the dispatcher")
        self.assertEqual(self.dispatch(), 1)
        self.assertEqual((job.state, job.attempts), ('done', 1))
        self.assertEqual(self.keys(), [job.idempotency_key] * 3)
        self.assertEqual(len(job.log_ids), 3)
        with self.assertRaises(UserError):
            job.action_retry_now()

    def test_retry_now_on_failed_job(self):
        job = self.queue(self.partner('Fixed later'))
        self.api.reply(Reply(422))
        self.dispatch()
        self.assertEqual(job.state, 'failed')
        job.action_retry_now()
        self.dispatch()
        self.assertEqual((job.state, job.attempts), ('done', 1))

    def test_retry_now_refused_on_pending_job(self):
        job = self.queue(self.partner('Waiting'))
        with self.assertRaises(UserError):
            job.action_retry_now()

    def test_replay_done_job(self):
        job = self.queue(self.partner('Again'))
        self.dispatch()
        self.assertEqual(job.state, 'done')
        action = job.action_replay()
        replay = self.Job.browse(action['res_id'])
        self.assertEqual((action['res_model'], replay.state, replay.replay_of_id), ('bj.api.sync.job', 'pending', job))
        self.assertNotEqual(replay.idempotency_key, job.idempotency_key)
        self.assertEqual((replay.body, replay.url_values, replay.attempts), (job.body, job.url_values, 0))
        self.assertEqual(self.dispatch(), 1)
        self.assertEqual(replay.state, 'done')
        self.assertEqual(self.keys(), [job.idempotency_key, replay.idempotency_key])
        self.assertEqual(self.api.received[0].body, self.api.received[1].body)

    def test_replay_refused_on_pending_job(self):
        job = self.queue(self.partner('Not yet'))
        with self.assertRaises(UserError):
            job.action_replay()


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestOutboxOrderAndHolds(OutboxCase):

    def test_jobs_of_one_record_go_out_in_order(self):
        partner, other = self.partner('V1'), self.partner('Other')
        first = self.queue(partner)
        partner.name = 'V2'
        second = self.queue(partner)
        third = self.queue(other)
        self.api.reply(Reply(503))
        # One at a time, so the scripted 503 answers the first job, not the other record's sent beside it.
        self.env['ir.config_parameter'].set_param('bj_api_sync.dispatch_concurrency', 1)
        self.assertEqual(self.dispatch(), 2)
        self.assertEqual((first.state, second.state, third.state), ('pending', 'pending', 'done'))
        self.assertEqual(second.attempts, 0, "held while the earlier job of its record waits")
        self.assertEqual(self.keys(), [first.idempotency_key, third.idempotency_key])
        self.assertEqual(self.dispatch(), 0)
        self.make_due(first)
        self.assertEqual(self.dispatch(), 2)
        self.assertEqual((first.state, second.state), ('done', 'done'))
        self.assertEqual(self.keys()[2:], [first.idempotency_key, second.idempotency_key])
        self.assertEqual([received.json['name'] for received in self.api.received[2:]], ['V1', 'V2'])

    def test_a_job_held_behind_a_later_one_goes_out_in_the_same_run(self):
        # Two at a time: the first turn claims the first job of one record and the job of another, queued
        # after its second; once the first is done, that second one, behind the last claimed, goes too.
        partner, other = self.partner('A1'), self.partner('B')
        first = self.queue(partner)
        partner.name = 'A2'
        second = self.queue(partner)
        third = self.queue(other)
        self.env['ir.config_parameter'].set_param('bj_api_sync.dispatch_concurrency', 2)
        self.assertEqual(self.dispatch(), 3)
        self.assertEqual(set(self.keys()[:2]), {first.idempotency_key, third.idempotency_key})
        self.assertEqual(self.keys()[2], second.idempotency_key)

    def test_running_job_of_a_record_holds_the_next_one(self):
        partner = self.partner('Busy')
        first = self.queue(partner)
        second = self.queue(partner)
        first.write({'state': 'running', 'lease_until': fields.Datetime.now() + datetime.timedelta(hours=1)})
        self.assertEqual(self.dispatch(), 0)
        self.assertEqual(second.state, 'pending')

    def test_paused_config_holds_jobs(self):
        self.config.queue_paused = True
        jobs = self.queue(self.partner('Held') | self.partner('Held too'))
        self.assertEqual(len(jobs), 2, "a paused config still queues")
        self.assertEqual(self.dispatch(), 0)
        self.assertEqual(set(jobs.mapped('state')), {'pending'})
        self.assertEqual(self.api.received, [])
        triggers = self.triggers()
        self.config.queue_paused = False
        self.assertEqual(self.triggers(), triggers + 1, "unpausing wakes the dispatcher")
        self.assertEqual(self.dispatch(), 2)
        self.assertEqual(set(jobs.mapped('state')), {'done'})

    def test_archived_config_holds_jobs(self):
        job = self.queue(self.partner('Held'))
        self.config.active = False
        self.assertEqual(self.dispatch(), 0)
        self.assertEqual(job.state, 'pending')
        self.config.active = True
        self.assertEqual(self.dispatch(), 1)
        self.assertEqual(job.state, 'done')

    def test_other_configs_are_not_held(self):
        other = self.config.copy({'name': 'Other queue'})
        self.config.queue_paused = True
        held = self.queue(self.partner('Held'))
        sent = self.queue(self.partner('Sent'), config=other)
        self.assertEqual(self.dispatch(), 1)
        self.assertEqual((held.state, sent.state), ('pending', 'done'))

    def test_expired_lease_is_taken_over(self):
        stale = self.queue(self.partner('Stale'))
        live = self.queue(self.partner('Live'))
        now = self.env.cr.now()  # the claim's clock
        stale.write({'state': 'running', 'attempts': 1, 'lease_until': now - datetime.timedelta(minutes=1)})
        live.write({'state': 'running', 'attempts': 1, 'lease_until': now + datetime.timedelta(hours=1)})
        self.assertEqual(self.dispatch(), 1)
        self.assertEqual((stale.state, stale.attempts), ('done', 2))
        self.assertFalse(stale.lease_until)
        self.assertEqual((live.state, live.attempts), ('running', 1))
        self.assertEqual(self.keys(), [stale.idempotency_key])

    def test_claim_sets_a_lease(self):
        job = self.queue(self.partner('Leased'))
        seen = []
        original = outbox._transmit

        def spy(flight):
            # The turn that claimed the job has committed when its request leaves: into the test's
            # transaction here, read through the test's own cursor (the dispatcher's holds the test lock).
            self.env.cr.execute("SELECT state, lease_until, attempts FROM bj_api_sync_job WHERE id = %s",
                                [flight.job_id])
            seen.append(self.env.cr.fetchone())
            return original(flight)

        with patch.object(outbox, '_transmit', spy):
            self.dispatch()
        [(state, lease_until, attempts)] = seen
        self.assertEqual((state, attempts), ('running', 1))
        timeouts = self.config.connection_timeout + self.config.read_timeout
        self.assertGreaterEqual(lease_until, self.env.cr.now() + datetime.timedelta(seconds=timeouts))
        self.assertEqual(job.state, 'done')


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestOutboxSigning(OutboxCase):

    def signed_config(self, secret):
        return self.config.copy({'name': 'Signed', 'sign_requests': True, 'signing_secret': secret})

    def assertSigned(self, received, key, message_id):
        self.assertEqual(header(received, 'webhook-id'), message_id)
        timestamp = header(received, 'webhook-timestamp')
        self.assertTrue(timestamp.isdigit())
        self.assertLessEqual(abs(int(timestamp) - time.time()), 60)
        signed = f"{message_id}.{timestamp}.".encode() + received.body
        expected = 'v1,' + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        self.assertEqual(header(received, 'webhook-signature'), expected)

    def check_signed_delivery(self, secret, key):
        config = self.signed_config(secret)
        job = self.queue(self.partner('Signed'), config=config)
        self.api.reply(Reply(503))
        self.dispatch()
        self.make_due(job)
        self.dispatch()
        self.assertEqual(job.state, 'done')
        self.assertEqual(len(self.api.received), 2)
        for received in self.api.received:
            self.assertEqual(header(received, 'Idempotency-Key'), job.idempotency_key)
            self.assertSigned(received, key, job.idempotency_key)
        self.assertEqual(self.api.received[0].body, job.body.encode())
        # The secret is in no log row and no job field.
        self.env.flush_all()
        self.env.cr.execute("SELECT row_to_json(log)::text FROM bj_api_log AS log WHERE config_id = %s", [config.id])
        rows = [row for (row,) in self.env.cr.fetchall()]
        self.assertEqual(len(rows), 2)
        self.env.cr.execute("SELECT row_to_json(job)::text FROM bj_api_sync_job AS job WHERE config_id = %s",
                            [config.id])
        rows += [row for (row,) in self.env.cr.fetchall()]
        for row in rows:
            self.assertNotIn(secret, row)
            self.assertNotIn(base64.b64encode(key).decode(), row)
        for log in job.log_ids:
            self.assertNotIn(header(self.api.received[0], 'webhook-signature')[3:], log.request_headers)

    def test_whsec_secret(self):
        key = b'\x01\x02 a binary key \xfe\xff' * 2
        self.check_signed_delivery('whsec_' + base64.b64encode(key).decode(), key)

    def test_plain_secret(self):
        secret = 'plain-text-signing-secret'
        self.check_signed_delivery(secret, secret.encode())

    def test_immediate_calls_are_signed_too(self):
        config = self.signed_config('another-plain-secret')
        result = config._make_outbound_http_request(self.partner('Now'), queued=False)
        self.assertTrue(result['success'])
        [received] = self.api.received
        self.assertSigned(received, b'another-plain-secret', header(received, 'Idempotency-Key'))

    def test_unsigned_by_default(self):
        self.queue(self.partner('Plain'))
        self.dispatch()
        self.assertIsNone(header(self.api.received[0], 'webhook-signature'))

    def test_signing_needs_a_secret(self):
        with self.assertRaises(ValidationError) as caught:
            self.config.sign_requests = True
        self.assertIn('Queued partners', str(caught.exception))
        with self.assertRaises(ValidationError):
            self.config.copy({'name': 'No secret', 'sign_requests': True})


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestOutboxRetention(OutboxCase):

    def make_job(self, state, done_days_ago=None, log_days_ago=None):
        job = self.Job.create({
            'name': f'{state} job', 'config_id': self.config.id, 'http_method': 'POST',
            'body': '{}', 'state': state,
        })
        log = self.make_log(log_days_ago, job=job) if log_days_ago is not None else None
        if done_days_ago is not None:
            self.env.flush_all()
            self.env.cr.execute("UPDATE bj_api_sync_job SET done_at = %s WHERE id = %s",
                                [fields.Datetime.now() - datetime.timedelta(days=done_days_ago), job.id])
        return job, log

    def make_log(self, days_ago, job=None):
        log = self.env['bj.api.log'].create({
            'config_id': self.config.id, 'name': 'attempt', 'status': 'success', 'job_id': job.id if job else False})
        self.env.flush_all()
        self.env.cr.execute("UPDATE bj_api_log SET create_date = %s WHERE id = %s",
                            [fields.Datetime.now() - datetime.timedelta(days=days_ago), log.id])
        return log

    def test_cleanup_removes_old_done_jobs_and_logs_only(self):
        self.env['ir.config_parameter'].sudo().set_param('bj_api_sync.retention_days', '7')
        old_done, old_done_log = self.make_job('done', done_days_ago=10, log_days_ago=10)
        recent_done, recent_done_log = self.make_job('done', done_days_ago=1, log_days_ago=1)
        old_failed, old_failed_log = self.make_job('failed', log_days_ago=40)
        old_dead, old_dead_log = self.make_job('dead', log_days_ago=40)
        pending, pending_log = self.make_job('pending', log_days_ago=40)
        old_log, recent_log = self.make_log(8), self.make_log(6)
        self.env.flush_all()
        self.env.cr.execute("UPDATE bj_api_sync_job SET create_date = %s WHERE id IN %s",
                            [fields.Datetime.now() - datetime.timedelta(days=40),
                             (old_failed.id, old_dead.id, pending.id, old_done.id)])
        self.env.invalidate_all()
        self.Job._gc_done_deliveries_and_logs()
        self.env.invalidate_all()
        self.assertFalse(old_done.exists())
        self.assertFalse(old_done_log.exists())
        self.assertFalse(old_log.exists())
        kept = (recent_done | old_failed | old_dead | pending)
        self.assertEqual(kept.exists(), kept)
        kept_logs = recent_done_log | old_failed_log | old_dead_log | pending_log | recent_log
        self.assertEqual(kept_logs.exists(), kept_logs)

    def test_cleanup_cron_runs_with_default_retention(self):
        done, log = self.make_job('done', done_days_ago=29, log_days_ago=29)
        older, older_log = self.make_job('done', done_days_ago=31, log_days_ago=31)
        # What Odoo's daily autovacuum job calls (it commits, so it is not run whole here).
        self.Job._gc_done_deliveries_and_logs()
        self.env.invalidate_all()
        self.assertTrue(done.exists() and log.exists())
        self.assertFalse(older.exists() or older_log.exists())


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestOutboxSchedule(OutboxCase):

    def test_parse_schedule(self):
        self.assertEqual(profile.parse_schedule('1m, 5m, 2h'), [60, 300, 7200])
        self.assertEqual(profile.parse_schedule('30s 1d'), [30, 86400])
        self.assertEqual(profile.parse_schedule(' 1.5m,10 '), [90, 10])
        self.assertEqual(len(profile.parse_schedule(profile.DEFAULT_RETRY_SCHEDULE)), 6)
        for text in ('soon', '5x', '-1m', '1m,,', 'm', ''):
            with self.subTest(text=text), self.assertRaises(ValueError):
                profile.parse_schedule(text)

    def test_schedule_validation(self):
        self.config.queue_retry_schedule = '1m, 5m, 2h'
        with self.assertRaises(ValidationError) as caught:
            self.config.queue_retry_schedule = 'soon'
        self.assertIn('Queued partners', str(caught.exception))
        self.assertIn("'soon'", str(caught.exception))

    def test_max_attempts_follow_the_schedule(self):
        self.config.queue_retry_schedule = '1m, 5m, 2h'
        self.assertEqual(self.queue(self.partner('Four')).max_attempts, 4)


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestOutboxProductionMode(OutboxCase):
    """The dispatcher under Odoo's cron time limit: bounded runs, progress reported, one wake-up per transaction."""

    def test_dispatcher_is_woken_once_per_transaction(self):
        self.env.cr.precommit.data.pop(jobs._WOKEN, None)
        before = self.triggers()
        for number in range(3):
            self.queue(self.partner(f'Together {number}'))
        self.assertEqual(len(self.config_jobs()), 3)
        self.assertEqual(self.triggers(), before + 1)

    def config_jobs(self):
        return self.Job.search([('config_id', '=', self.config.id)])

    def test_run_budget_stays_well_under_the_cron_time_limit(self):
        self.queue(self.partner('Waiting'))  # a pending job of a config with 5 + 15 s timeouts
        self.env.flush_all()
        with self.shared_cursors():
            with patch.dict(config.options, {'limit_time_real_cron': -1, 'limit_time_real': 120}):
                self.assertEqual(outbox.run_budget(self.registry), 40)
            with patch.dict(config.options, {'limit_time_real_cron': 300}):
                self.assertEqual(outbox.run_budget(self.registry), 130)
            with patch.dict(config.options, {'limit_time_real_cron': 30}):
                self.assertEqual(outbox.run_budget(self.registry), cron.MIN_BUDGET)
            with patch.dict(config.options, {'limit_time_real_cron': 0}):
                self.assertEqual(outbox.run_budget(self.registry), cron.UNLIMITED_BUDGET)

    def test_a_run_stops_at_its_budget_reports_progress_and_wakes_itself(self):
        jobs = self.Job.browse()
        for number in range(6):
            jobs |= self.queue(self.partner(f'Slow {number}'))
        self.api.default = Reply(delay=0.3)
        self.env['ir.config_parameter'].set_param('bj_api_sync.dispatch_concurrency', 2)
        progress = self.env['ir.cron.progress'].create({'cron_id': self.dispatch_cron.id})
        before = self.triggers()
        self.env.flush_all()
        with patch.object(outbox, 'run_budget', lambda registry: 0.5), self.shared_cursors():
            sent = self.Job.with_context(ir_cron_progress_id=progress.id, cron_id=self.dispatch_cron.id)._cron_dispatch()
        self.env.invalidate_all()
        # Two at a time: two rounds of 0.3 s fit in the 0.5 s budget (the second starts at 0.3 s).
        self.assertEqual(sent, 4)
        self.assertEqual(progress.done, sent)
        self.assertEqual(len(jobs.filtered(lambda job: job.state == 'done')), sent)
        # The rest is left to the next run, which the dispatcher has already asked for.
        self.assertEqual(self.triggers(), before + 1)
        self.assertEqual(self.dispatch(), 6 - sent)
