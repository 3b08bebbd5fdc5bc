"""No echoes (engine/shared/echo.py): a change an inbound endpoint makes is not sent back to the remote
system it came from (the outbound configurations sharing the endpoint's remote-id scope); it still reaches
other systems, and an option sends it back anyway. A round trip over real HTTP, both ways."""
from odoo.tests import tagged

from .common import FakeApi, LoopbackOnly
from .test_inbound import InboundCase


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestNoEcho(LoopbackOnly, InboundCase):
    # The outbound deliveries go to the in-test API on 127.0.0.1, as in the other tests.

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.crm = FakeApi().start()
        cls.addClassCleanup(cls.crm.stop)
        cls.config.remote_id_scope = 'crm.contacts'
        Config = cls.env['bj.api.sync.config']
        common = {'request_type': 'out', 'model_id': cls.env['ir.model']._get('res.partner').id,
                  'http_method_ids': cls.methods('post'), 'delivery_mode': 'queued', 'sync_on_create': True,
                  'sync_on_update': True, 'domain': "[('is_company', '=', False)]",
                  'line_ids': [(0, 0, {'api_key': 'name', 'field_path': 'name'})]}
        cls.back_to_crm = Config.create({**common, 'name': 'Contacts to the CRM', 'url': cls.crm.url('/crm'),
                                         'remote_id_scope': 'crm.contacts'})
        cls.to_mailing = Config.create({**common, 'name': 'Contacts to the mailing tool',
                                        'url': cls.crm.url('/mailing'), 'remote_id_scope': 'mailing.contacts'})

    def setUp(self):
        super().setUp()
        self.crm.received.clear()

    def dispatch(self):
        self.env.cr.flush()  # this test's own changes: the precommit hooks run, as at a commit
        self.env['bj.api.sync.job']._cron_dispatch()
        self.env.invalidate_all()

    def sent_paths(self):
        return sorted(received.path for received in self.crm.received)

    def test_a_contact_the_crm_creates_is_not_posted_back_to_it(self):
        response = self.call('POST', body={'ref': 'ECHO-1', 'name': 'Echo Olena'})
        self.assertEqual(response.status_code, 201, response.text)
        self.dispatch()
        self.assertEqual(self.sent_paths(), ['/mailing'], "another system gets it; the CRM does not")
        partner = self.env['res.partner'].search([('ref', '=', 'ECHO-1')])
        log = self.env['bj.api.log'].search([('config_id', '=', self.back_to_crm.id), ('res_ids', '=', str(partner.id))])
        self.assertEqual(log.status, 'skipped')
        self.assertIn('Partners endpoint', log.error_message)
        self.assertIn('no echo', log.error_message)

        # The CRM's update comes in: not sent back either. A change made in Odoo is.
        self.assertEqual(self.call('PUT', '/ECHO-1', body={'name': 'Echo Olena K.'}).status_code, 200)
        self.dispatch()
        self.assertEqual(self.sent_paths(), ['/mailing', '/mailing'])
        partner.name = 'Echo Olena Kovalenko'
        self.dispatch()
        self.assertEqual(self.sent_paths(), ['/crm', '/mailing', '/mailing', '/mailing'])

    def test_the_endpoint_may_send_changes_back(self):
        self.config.inbound_echo = True
        self.assertEqual(self.call('POST', body={'ref': 'ECHO-2', 'name': 'Echo Petro'}).status_code, 201)
        self.dispatch()
        self.assertEqual(self.sent_paths(), ['/crm', '/mailing'])
