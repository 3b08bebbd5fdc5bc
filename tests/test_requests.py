import base64

from odoo.tests import tagged

from .common import BjApiCase, Reply


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestRequests(BjApiCase):

    def test_post_one_record_plain_and_dotted(self):
        company = self.env['res.partner'].create({'name': 'ACME', 'is_company': True})
        partner = self.env['res.partner'].create({
            'name': 'Olena', 'email': 'olena@example.com', 'phone': '555-1234', 'parent_id': company.id})
        config = self.make_config(lines=[
            ('full_name', 'name'), ('email_address', 'email'), ('contact_number', 'phone'),
            ('external_id', 'id'),
            {'api_key': 'company_name', 'field_path': 'parent_id.name', 'value_type': 'relational'},
        ])
        result = config._make_outbound_http_request(partner, config.id, timeout=60)
        self.assertTrue(result['success'], result)
        self.assertEqual(result['status_code'], 200)
        self.assertEqual(result['response'], {'ok': True})
        [received] = self.api.received
        self.assertEqual(received.method, 'POST')
        self.assertEqual(received.path, '/api/items')
        self.assertEqual(received.headers['Content-Type'], 'application/json')
        self.assertEqual(received.json, {
            'full_name': 'Olena', 'email_address': 'olena@example.com', 'contact_number': '555-1234',
            'external_id': partner.id, 'company_name': 'ACME'})
        [log] = self.env['bj.api.log'].browse(result['log_ids'])
        self.assertEqual(log.status, 'success')
        self.assertEqual(log.attempt, 1)
        self.assertEqual(log.res_ids, str(partner.id))

    def test_basic_and_bearer_headers(self):
        partner = self.env['res.partner'].create({'name': 'X'})
        config = self.make_config(lines=[('name', 'name')], auth_type='basic',
                                  auth_login='user', auth_password='pass')
        config._make_outbound_http_request(partner, config.id)
        self.assertEqual(self.api.received[-1].headers['Authorization'], 'Basic dXNlcjpwYXNz')
        config.write({'auth_type': 'bearer', 'bearer_token': 'sk_live_abc123xyz789'})
        config._make_outbound_http_request(partner, config.id)
        self.assertEqual(self.api.received[-1].headers['Authorization'], 'Bearer sk_live_abc123xyz789')
        for log in self.logs(config):
            self.assertNotIn('dXNlcjpwYXNz', log.request_headers)
            self.assertNotIn('sk_live_abc123xyz789', log.request_headers)
        self.assertEqual(base64.b64decode('dXNlcjpwYXNz'), b'user:pass')

    def test_server_error_then_success(self):
        partner = self.env['res.partner'].create({'name': 'X'})
        config = self.make_config(lines=[('name', 'name')])
        self.api.reply(Reply(status=503), Reply(status=500))
        result = config._make_outbound_http_request(partner, config.id)
        self.assertTrue(result['success'])
        self.assertEqual(len(self.api.received), 3)
        self.assertEqual(self.logs(config).mapped('status'), ['retry', 'retry', 'success'])
        self.assertEqual(self.logs(config).mapped('attempt'), [1, 2, 3])
