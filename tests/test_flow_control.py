"""Parallel sending, flow control and endpoint health, with one dispatcher (see
test_outbox_concurrency.py for several): several deliveries in flight with per-record order,
max_concurrency, rate_limit, Retry-After holds, the circuit breaker, 410 and auto-pause."""
import collections
import datetime

from odoo.tests import tagged

from ..engine.outbox import health
from .common import Reply
from .test_outbox import OutboxCase


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestFlowControl(OutboxCase):

    def setUp(self):
        super().setUp()
        self.set_concurrency(8)

    def set_concurrency(self, count):
        self.env['ir.config_parameter'].set_param('bj_api_sync.dispatch_concurrency', count)

    def queue_partners(self, count, prefix='Partner'):
        jobs = self.Job.browse()
        for number in range(count):
            jobs |= self.queue(self.partner(f'{prefix} {number}'))
        return jobs

    def health(self):
        return self.env['bj.api.sync.health'].search([('config_id', '=', self.config.id)])

    def test_several_deliveries_in_flight_records_in_order(self):
        partners = [self.partner(f'V1 {number}') for number in range(6)]
        first_jobs = self.Job.browse()
        for partner in partners:
            first_jobs |= self.queue(partner)
        for partner in partners:
            partner.name = partner.name.replace('V1', 'V2')
            self.queue(partner)
        self.api.default = Reply(delay=0.2)
        self.assertEqual(self.dispatch(), 12)
        # The first version of the six records went out together; each record's second waited for its first.
        self.assertEqual(self.api.most_in_flight, 6)
        names = collections.defaultdict(list)
        for received in self.api.received:
            names[received.json['name'].split(' ')[1]].append(received.json['name'].split(' ')[0])
        self.assertEqual(dict(names), {str(number): ['V1', 'V2'] for number in range(6)})
        keys = collections.Counter(self.keys())
        self.assertEqual(set(keys.values()), {1}, "no delivery was sent twice")
        self.assertEqual(set(first_jobs.mapped('state')), {'done'})

    def test_dispatch_concurrency_caps_one_dispatcher(self):
        self.queue_partners(6)
        self.set_concurrency(3)
        self.api.default = Reply(delay=0.1)
        self.assertEqual(self.dispatch(), 6)
        self.assertEqual(self.api.most_in_flight, 3)

    def test_max_concurrency_caps_the_config(self):
        self.config.max_concurrency = 2
        self.queue_partners(6)
        self.api.default = Reply(delay=0.1)
        self.assertEqual(self.dispatch(), 6)
        self.assertEqual(self.api.most_in_flight, 2)

    def test_rate_limit_spaces_the_requests(self):
        self.config.rate_limit = 20
        self.queue_partners(21)
        self.assertEqual(self.dispatch(), 21)
        arrivals = [received.at for received in self.api.received]
        # 21 requests at 20 per second: their slots are 50 ms apart. A request may leave after its
        # slot (the first one does, its request being finished first), never before.
        self.assertGreaterEqual(arrivals[-1] - arrivals[1], 19 * 0.05 * 0.95)
        self.assertTrue(self.health().next_slot_at)

    def test_retry_after_holds_the_whole_queue(self):
        self.set_concurrency(1)
        jobs = self.queue_partners(3, 'Held')
        self.api.reply(Reply(429, headers={'Retry-After': '120'}))
        self.assertEqual(self.dispatch(), 1)
        self.assertEqual(jobs.mapped('attempts'), [1, 0, 0])
        self.assertEqual(set(jobs.mapped('state')), {'pending'})
        now = self.env.cr.now()
        self.assertTrue(now + datetime.timedelta(seconds=100) < self.config.held_until)
        self.assertEqual(self.dispatch(), 0, "the other deliveries wait too")
        # The hold is over, and the first delivery's retry is due.
        self.health().held_until = now - datetime.timedelta(seconds=1)
        self.make_due(jobs)
        self.assertEqual(self.dispatch(), 3)
        self.assertEqual(set(jobs.mapped('state')), {'done'})
        self.assertFalse(self.config.held_until)

    def test_breaker_opens_probes_and_closes(self):
        self.set_concurrency(1)
        self.config.failure_threshold = 3
        jobs = self.queue_partners(5, 'Down')
        self.api.default = Reply(503)
        self.assertEqual(self.dispatch(), 3, "the third failure in a row opens the breaker")
        self.assertEqual(self.config.health_state, 'open')
        self.assertEqual(self.config.consecutive_failures, 3)
        now = self.env.cr.now()
        self.assertTrue(now + datetime.timedelta(seconds=25) < self.config.next_probe_at
                        < now + datetime.timedelta(seconds=40))
        self.assertEqual(jobs.mapped('attempts'), [1, 1, 1, 0, 0])
        self.make_due(jobs)
        self.assertEqual(self.dispatch(), 0, "deliveries wait for the cool-down")

        # The cool-down is over: one probe, which fails: the next waits twice as long.
        self.set_concurrency(8)
        self.health().next_probe_at = now - datetime.timedelta(seconds=1)
        self.assertEqual(self.dispatch(), 1)
        self.assertEqual(self.config.health_state, 'open')
        self.assertEqual(self.health().cooldown, 60)
        self.assertEqual(self.config.consecutive_failures, 4)

        # The next probe succeeds: the breaker closes and the rest flows.
        self.api.reset()
        self.api.default = Reply(delay=0.1)
        self.health().next_probe_at = now - datetime.timedelta(seconds=1)
        self.make_due(jobs)
        self.assertEqual(self.dispatch(), 5)
        self.assertEqual(self.api.received[0].concurrent, 1, "the probe went out alone")
        self.assertEqual(max(received.concurrent for received in self.api.received[1:]), 4)
        self.assertEqual(self.config.health_state, 'closed')
        self.assertEqual(self.config.consecutive_failures, 0)
        self.assertEqual(set(jobs.mapped('state')), {'done'})

    def test_client_errors_do_not_open_the_breaker(self):
        self.set_concurrency(1)
        self.config.failure_threshold = 2
        self.queue_partners(3, 'Invalid')
        self.api.default = Reply(422, {'error': 'invalid'})
        self.assertEqual(self.dispatch(), 3)
        self.assertEqual((self.config.health_state, self.config.consecutive_failures), ('closed', 0))

    def test_gone_pauses_the_config_and_alerts_its_administrators(self):
        self.set_concurrency(1)
        jobs = self.queue_partners(3, 'Gone')
        self.api.reply(Reply(410, {'error': 'this endpoint was removed'}))
        self.assertEqual(self.dispatch(), 1)
        self.assertTrue(self.config.queue_paused)
        self.assertEqual(self.config.health_state, 'paused')
        self.assertEqual(jobs.mapped('state'), ['failed', 'pending', 'pending'], "nothing else is lost")
        activities = self.env['mail.activity'].search([('res_model', '=', self.config._name),
                                                       ('res_id', '=', self.config.id)])
        self.assertIn(self.env.ref('base.user_admin'), activities.user_id)
        self.assertIn('410', activities[0].summary)
        self.assertIn('this endpoint was removed', activities[0].note)
        self.assertTrue(self.config.message_ids.filtered(lambda message: '410 Gone' in (message.body or '')))
        self.assertEqual(self.dispatch(), 0)
        # Resumed by hand: the rest goes out.
        self.config.queue_paused = False
        self.assertEqual(self.dispatch(), 2)

    def test_failing_for_auto_pause_hours_pauses(self):
        self.config.auto_pause_hours = 2
        self.queue_partners(1, 'Long down')
        self.env['bj.api.sync.health'].create({
            'config_id': self.config.id, 'consecutive_failures': 1,
            'failing_since': self.env.cr.now() - datetime.timedelta(hours=3)})
        self.api.default = Reply(503)
        self.assertEqual(self.dispatch(), 1)
        self.assertEqual(self.config.health_state, 'paused')
        activity = self.env['mail.activity'].search([('res_model', '=', self.config._name),
                                                     ('res_id', '=', self.config.id)], limit=1)
        self.assertIn('2 hours', activity.summary)
        # Unpaused: the endpoint gets a fresh start.
        self.config.queue_paused = False
        self.assertEqual((self.config.health_state, self.config.consecutive_failures), ('closed', 0))
        self.assertFalse(self.health().failing_since)

    def test_reset_endpoint_health(self):
        self.env['bj.api.sync.health'].create({
            'config_id': self.config.id, 'state': health.OPEN, 'consecutive_failures': 12, 'cooldown': 120,
            'next_probe_at': self.env.cr.now() + datetime.timedelta(minutes=2)})
        self.assertEqual(self.config.health_state, 'open')
        self.config.action_reset_health()
        self.assertEqual((self.config.health_state, self.config.consecutive_failures), ('closed', 0))

    def test_flow_control_values_cannot_be_negative(self):
        for name in ('rate_limit', 'max_concurrency', 'failure_threshold', 'auto_pause_hours'):
            with self.subTest(field=name), self.assertRaisesRegex(Exception, 'cannot be negative'):
                with self.env.cr.savepoint():
                    self.config.write({name: -1})

    def test_config_changes_are_tracked_without_secrets(self):
        # Changes are tracked for records created in an earlier transaction, just before commit.
        self.env.flush_all()
        self.env.cr.precommit.run()
        self.config.write({'url': self.api.url('/moved'), 'auth_type': 'bearer', 'bearer_token': 'tracked-secret-1'})
        self.env.flush_all()
        self.env.cr.precommit.run()
        self.config.invalidate_recordset(['message_ids'])
        tracked = self.config.message_ids.tracking_value_ids
        self.assertIn('url', tracked.field_id.mapped('name'))
        self.env.cr.execute("SELECT row_to_json(value)::text FROM mail_tracking_value AS value "
                            "JOIN mail_message AS message ON message.id = value.mail_message_id "
                            "WHERE message.model = %s AND message.res_id = %s", [self.config._name, self.config.id])
        self.assertNotIn('tracked-secret-1', ' '.join(row for (row,) in self.env.cr.fetchall()))

    def test_a_backlog_wakes_the_helper_dispatcher(self):
        helper = self.env.ref('bj_api_sync.ir_cron_dispatch_jobs_helper')

        def helper_triggers():
            return self.env['ir.cron.trigger'].search_count([('cron_id', '=', helper.id)])

        before = helper_triggers()
        self.queue_partners(3, 'Few')
        self.assertEqual(self.dispatch(), 3)
        self.assertEqual(helper_triggers(), before, "a dispatcher alone keeps up with three")
        self.queue_partners(9, 'Many')
        self.assertEqual(self.dispatch(), 9)
        self.assertEqual(helper_triggers(), before + 1, "more than it keeps in flight: the helper joins")
