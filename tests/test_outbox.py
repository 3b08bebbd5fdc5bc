"""Queued delivery (issue "Delivery that loses nothing"): outbox jobs, dispatch, retries, operators."""
from odoo.tests import tagged

from .common import BjApiCase, Reply


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

    def dispatch(self):
        """Run the dispatcher as its cron would; its cursors share this test's transaction."""
        self.env.flush_all()
        self.registry.enter_test_mode(self.env.cr)
        try:
            return self.Job._cron_dispatch()
        finally:
            self.registry.leave_test_mode()
            self.env.invalidate_all()


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
