"""The administrator's path in a real browser (headless Chromium): configure, preview, send a test, read the log."""
import base64
from urllib.parse import quote

from odoo.tests import HttpCase, tagged

from .common import FakeApi, LoopbackOnly, Reply

TOUR_LOGIN, TOUR_PASSWORD = 'tour_user', 'tour-secret-pw'


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestUiTour(LoopbackOnly, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = FakeApi().start()
        cls.addClassCleanup(cls.api.stop)

    def test_configure_preview_send_test_and_open_the_log(self):
        Partner = self.env['res.partner']
        company = Partner.create({'name': 'BJ Tour Company', 'is_company': True})
        Partner.create({'name': 'BJ Tour Customer', 'email': 'tour@example.com', 'parent_id': company.id})
        self.api.default = Reply(201, {'id': 'tour-42'})
        url = self.api.url('/api/customers')

        self.start_tour('/odoo?debug=1', 'bj_api_sync_tour', login='admin', timeout=240,
                        cookies={'bj_api_tour_url': quote(url, safe='')})

        # The configuration as the tour filled it in.
        config = self.env['bj.api.sync.config'].search([('name', '=', 'Tour: Customers to CRM')])
        self.assertEqual(len(config), 1)
        self.assertEqual((config.request_type, config.model_name, config.url), ('out', 'res.partner', url))
        self.assertEqual(config.http_method_ids.name, 'POST')
        self.assertEqual((config.auth_type, config.auth_login, config.auth_password),
                         ('basic', TOUR_LOGIN, TOUR_PASSWORD))
        self.assertEqual([(h.key, h.value) for h in config.header_ids], [('X-API-Version', '2.0')])
        self.assertEqual([(line.api_key, line.field_path) for line in config.line_ids],
                         [('email_address', 'email'), ('full_name', 'name'), ('company_name', 'parent_id.name')])
        self.assertEqual(config.line_ids[0].field_id.name, 'email', "picked from the model's fields")

        # The preview sent nothing; Send Test sent exactly one request, as configured.
        self.assertEqual(len(self.api.received), 1, [(r.method, r.path) for r in self.api.received])
        [received] = self.api.received
        self.assertEqual((received.method, received.path), ('POST', '/api/customers'))
        self.assertEqual(list(received.json.items()), [
            ('email_address', 'tour@example.com'), ('full_name', 'BJ Tour Customer'),
            ('company_name', 'BJ Tour Company')])
        credentials = base64.b64encode(f'{TOUR_LOGIN}:{TOUR_PASSWORD}'.encode()).decode()
        self.assertEqual(received.headers['Authorization'], f'Basic {credentials}')
        self.assertEqual(received.headers['X-API-Version'], '2.0')
        self.assertEqual(received.headers['Content-Type'], 'application/json')

        # Its log, opened at the end of the tour, keeps no secret.
        [log] = self.env['bj.api.log'].search([('config_id', '=', config.id)])
        self.assertEqual((log.status, log.response_status_code, log.attempt), ('success', 201, 1))
        self.assertIn('Basic ***', log.request_headers)
        for secret in (TOUR_PASSWORD, credentials):
            self.assertNotIn(secret, log.request_headers + log.request_body)
