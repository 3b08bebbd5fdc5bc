"""Access rights and secrets (docs/reference.md, "Security"): admins configure, secrets never leak into logs or errors."""
import base64

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged
from odoo.tests.common import new_test_user

from .common import BjApiCase, Reply

TOKEN = 'sk_live_SECRET123'
PASSWORD = 'pa55-SECRET-word'


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestSecurity(BjApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = new_test_user(cls.env, login='bj_plain_user', groups='base.group_user')
        cls.admin = new_test_user(cls.env, login='bj_admin_user', groups='base.group_user,base.group_system')

    def make_secret_config(self, **values):
        config = self.make_config(
            name='Secret CRM', auth_type='bearer', bearer_token=TOKEN, lines=[('name', 'name')],
            header_ids=[(0, 0, {'key': 'X-API-Version', 'value': '2.0'})],
            param_ids=[(0, 0, {'key': 'source', 'value': 'odoo'})], **values)
        config.line_ids.ensure_one()
        return config

    def assertNoSecret(self, text, *secrets, what=''):
        for secret in secrets or (TOKEN,):
            self.assertNotIn(secret, text or '', what)

    # ------------------------------------------------------------------ access rights

    def test_secret_fields_are_for_system_admins(self):
        fields = self.env['bj.api.sync.config']._fields
        self.assertEqual(fields['auth_password'].groups, 'base.group_system')
        self.assertEqual(fields['bearer_token'].groups, 'base.group_system')

    def test_plain_user_cannot_read_configuration_nor_logs(self):
        config = self.make_secret_config()
        partner = self.env['res.partner'].create({'name': 'Olena'})
        config._make_outbound_http_request(partner, config.id)
        records = {
            'bj.api.sync.config': config,
            'bj.api.sync.config.line': config.line_ids,
            'bj.api.sync.header': config.header_ids,
            'bj.api.sync.param': config.param_ids,
            'bj.api.log': self.logs(config),
        }
        for model, record in records.items():
            self.assertTrue(record, model)
            with self.subTest(model=model):
                with self.assertRaises(AccessError):
                    record.with_user(self.user).read(['id'])
                with self.assertRaises(AccessError):
                    self.env[model].with_user(self.user).search([])
                with self.assertRaises(AccessError):
                    record.with_user(self.user).write({})
                with self.assertRaises(AccessError):
                    record.with_user(self.user).unlink()
        with self.assertRaises(AccessError):
            self.env['bj.api.sync.config'].with_user(self.user).create({
                'name': 'Mine', 'model_id': self.partner_model.id, 'url': 'https://api.example.com'})

    def test_plain_user_cannot_read_secrets(self):
        config = self.make_secret_config(auth_login='api_user', auth_password=PASSWORD)
        as_user = config.with_user(self.user)
        for field in ('bearer_token', 'auth_password'):
            with self.subTest(field=field):
                with self.assertRaises(AccessError):
                    as_user.read([field])
                with self.assertRaises(AccessError):
                    as_user[field]  # pylint: disable=pointless-statement  # the read is what is tested
        self.assertNotIn('bearer_token', self.env['bj.api.sync.config'].with_user(self.user).fields_get())
        self.assertNotIn('auth_password', self.env['bj.api.sync.config'].with_user(self.user).fields_get())

    def test_admin_can_configure_and_read_secrets(self):
        Config = self.env['bj.api.sync.config'].with_user(self.admin)
        config = Config.create({
            'name': 'Admin made', 'model_id': self.partner_model.id, 'url': self.api.url('/x'),
            'auth_type': 'basic', 'auth_login': 'api_user', 'auth_password': PASSWORD,
            'line_ids': [(0, 0, {'api_key': 'name', 'field_path': 'name'})],
            'header_ids': [(0, 0, {'key': 'X-Client-Id', 'value': 'odoo-integration'})],
        })
        self.assertEqual(config.read(['auth_password'])[0]['auth_password'], PASSWORD)
        config.write({'auth_type': 'bearer', 'bearer_token': TOKEN})
        self.assertEqual(config.bearer_token, TOKEN)
        self.assertIn('bearer_token', Config.fields_get())
        self.assertEqual(config.line_ids.read(['api_key'])[0]['api_key'], 'name')
        self.assertTrue(config.header_ids.read(['value']))
        partner = self.env['res.partner'].create({'name': 'Olena'})
        config._make_outbound_http_request(partner, config.id)
        self.assertEqual(len(self.env['bj.api.log'].with_user(self.admin).search([('config_id', '=', config.id)])), 1)
        log = self.env['bj.api.log'].with_user(self.admin).create({'config_id': config.id, 'name': 'manual', 'status': 'success'})
        self.assertEqual(log.name, 'manual')

    def test_http_methods_readable_by_internal_users(self):
        Method = self.env['bj.http.method'].with_user(self.user)
        self.assertEqual(set(Method.search([]).mapped('name')), {'GET', 'POST', 'PUT', 'PATCH', 'DELETE'})
        self.assertEqual(self.method_get.with_user(self.user).name, 'GET')
        with self.assertRaises(AccessError):
            self.method_get.with_user(self.user).write({'name': 'FETCH'})
        with self.assertRaises(AccessError):
            Method.create({'name': 'OPTIONS'})

    def test_plain_user_code_still_sends(self):
        """An automation rule or server action running as a plain user can call the entry point."""
        config = self.make_secret_config()
        partner = self.env['res.partner'].create({'name': 'Made by a user'}).with_user(self.user)
        result = self.env['bj.api.sync.config'].with_user(self.user)._make_outbound_http_request(
            record_ids=partner, config_id_ref=config.id)
        self.assertTrue(result['success'], result)
        [received] = self.api.received
        self.assertEqual(received.json, {'name': 'Made by a user'})
        self.assertEqual(received.headers['Authorization'], f'Bearer {TOKEN}')
        self.assertEqual(received.headers['X-API-Version'], '2.0')
        self.assertEqual(received.query_dict, {'source': 'odoo'})
        self.assertEqual(len(self.logs(config)), 1)
        self.assertEqual(self.logs(config).status, 'success')
        # Also by id list, and by config record.
        result = self.env['bj.api.sync.config'].with_user(self.user)._make_outbound_http_request(
            [partner.id], config.with_user(self.user))
        self.assertTrue(result['success'], result)
        self.assertEqual(len(self.api.received), 2)

    def test_plain_user_with_unknown_config_gets_user_error(self):
        with self.assertRaises(UserError):
            self.env['bj.api.sync.config'].with_user(self.user)._make_outbound_http_request(
                self.env['res.partner'].create({'name': 'X'}), 987654321)

    # ------------------------------------------------------------------ secrets in logs and errors

    def test_bearer_token_echoed_by_server_is_masked(self):
        config = self.make_secret_config(max_retries=0)
        partner = self.env['res.partner'].create({'name': 'Olena'})
        self.api.reply(Reply(status=401, body={'echo': f'Bearer {TOKEN}'}, headers={'X-Echo': TOKEN}))
        with self.assertLogs('odoo.addons.bj_api_sync', level='DEBUG') as captured:
            result = self.env['bj.api.sync.config'].with_user(self.user)._make_outbound_http_request(
                partner, config.id)
        self.assertEqual(self.api.received[0].headers['Authorization'], f'Bearer {TOKEN}', "the real token is sent")
        self.assertFalse(result['success'])
        self.assertEqual(result['status_code'], 401)
        self.assertEqual(len(self.api.received), 1, "401 is not retried")
        self.assertTrue(result['errors'])
        for error in result['errors']:
            self.assertNoSecret(error, what='result errors')
        [log] = self.logs(config)
        self.assertEqual(log.status, 'error')
        self.assertEqual(log.response_status_code, 401)
        self.assertIn('Bearer', log.request_headers, "the scheme stays visible")
        self.assertIn('echo', log.response_body)
        for field in ('name', 'url', 'request_headers', 'request_body', 'response_headers',
                      'response_body', 'error_message'):
            self.assertNoSecret(log[field], what=field)
        self.assertNoSecret('\n'.join(captured.output), what='server log')

    def test_basic_credentials_echoed_by_server_are_masked(self):
        config = self.make_config(
            name='Basic CRM', auth_type='basic', auth_login='api_user', auth_password=PASSWORD,
            lines=[('name', 'name')], max_retries=1)
        encoded = base64.b64encode(f'api_user:{PASSWORD}'.encode()).decode()
        echo = Reply(status=503, body=f'no: Basic {encoded} / {PASSWORD}')
        self.api.reply(echo, echo)
        partner = self.env['res.partner'].create({'name': 'Olena'})
        with self.assertLogs('odoo.addons.bj_api_sync', level='DEBUG') as captured:
            result = config._make_outbound_http_request(partner, config.id)
        self.assertEqual(self.api.received[0].headers['Authorization'], f'Basic {encoded}')
        self.assertFalse(result['success'])
        logs = self.logs(config)
        self.assertEqual(logs.mapped('status'), ['retry', 'error'])
        texts = [log[field] or '' for log in logs for field in (
            'request_headers', 'request_body', 'response_headers', 'response_body', 'error_message')]
        texts += result['errors'] + captured.output
        for text in texts:
            self.assertNoSecret(text, PASSWORD, encoded)

    def test_secret_header_values_are_masked(self):
        config = self.make_config(
            name='Key header', lines=[('name', 'name')], max_retries=0,
            header_ids=[(0, 0, {'key': 'X-Api-Key', 'value': TOKEN})])
        self.api.reply(Reply(status=400, body={'bad key': TOKEN}))
        partner = self.env['res.partner'].create({'name': 'Olena'})
        result = config._make_outbound_http_request(partner, config.id)
        self.assertEqual(self.api.received[0].headers['X-Api-Key'], TOKEN)
        [log] = self.logs(config)
        for text in (log.request_headers, log.response_body, log.error_message, *result['errors']):
            self.assertNoSecret(text)

    def test_secret_in_a_failing_script_message_is_masked(self):
        config = self.make_secret_config(python_script=f"raise UserError('refused: Bearer {TOKEN}')")
        partner = self.env['res.partner'].create({'name': 'Olena'})
        result = config._make_outbound_http_request(partner, config.id)
        self.assertFalse(result['success'])
        self.assertFalse(self.api.received)
        [log] = self.logs(config)
        self.assertEqual(log.status, 'error')
        self.assertIn('refused', log.error_message)
        self.assertNoSecret(log.error_message)
        for error in result['errors']:
            self.assertNoSecret(error, what='result errors')

    def test_header_line_break_error_does_not_show_the_value(self):
        with self.assertRaises(ValidationError) as caught:
            self.make_config(name='Injected', header_ids=[(0, 0, {'key': 'Authorization', 'value': f'Bearer {TOKEN}\r\nX: 1'})])
        self.assertIn('Injected', str(caught.exception))
        self.assertNoSecret(str(caught.exception))

    def test_log_views_do_not_show_secrets(self):
        config = self.make_secret_config()
        partner = self.env['res.partner'].create({'name': 'Olena'})
        config._make_outbound_http_request(partner, config.id)
        data = self.logs(config).with_user(self.admin).read()
        self.assertTrue(data)
        self.assertNoSecret(repr(data))
