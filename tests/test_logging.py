"""Logs (docs/reference.md, "Logs"): rows survive a rollback, one row per attempt, secrets masked."""
import base64
import json
import logging
import uuid

from odoo import SUPERUSER_ID, api
from odoo.tests import tagged

from ..engine.shared.logbook import MAX_TEXT_LENGTH
from .common import BjApiCase, Reply, free_port_url

TEXT_FIELDS = ('name', 'url', 'http_method', 'request_headers', 'request_body', 'response_headers',
               'response_body', 'error_message', 'res_model', 'res_ids')


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestLogging(BjApiCase):

    def test_one_row_per_attempt_with_details(self):
        partner = self.env['res.partner'].create({'name': 'Logged', 'email': 'logged@example.com'})
        config = self.make_config(
            url=self.api.url('/api/customers'),
            lines=[('full_name', 'name'), ('email_address', 'email')],
            auth_type='basic', auth_login='api_user', auth_password='secure_password',
            header_ids=[(0, 0, {'key': 'X-API-Version', 'value': '2.0'})],
            param_ids=[(0, 0, {'key': 'source', 'value': 'odoo'})])
        self.api.reply(Reply(503, {'error': 'busy'}, headers={'X-Request-Id': 'r-1'}),
                       Reply(201, {'id': 42}, headers={'X-Request-Id': 'r-2'}, delay=0.05))
        result = config._make_outbound_http_request(partner, config.id)
        self.assertTrue(result['success'], result)
        logs = self.logs(config)
        self.assertEqual(len(logs), len(self.api.received))
        self.assertEqual(result['log_ids'], logs.ids)
        first, second = logs
        for log, attempt, status, code in ((first, 1, 'retry', 503), (second, 2, 'success', 201)):
            self.assertEqual(log.config_id, config)
            self.assertEqual(log.status, status)
            self.assertEqual(log.attempt, attempt)
            self.assertEqual(log.http_method, 'POST')
            self.assertEqual(log.url, self.api.url('/api/customers?source=odoo'))
            self.assertEqual(log.res_model, 'res.partner')
            self.assertEqual(log.res_ids, str(partner.id))
            self.assertTrue(log.name)
            self.assertTrue(log.create_date)
            self.assertEqual(log.response_status_code, code)
            headers = json.loads(log.request_headers)
            self.assertEqual(headers['Authorization'], 'Basic ***')
            self.assertEqual(headers['X-API-Version'], '2.0')
            self.assertEqual(headers['Content-Type'], 'application/json')
            self.assertEqual(json.loads(log.request_body), {'full_name': 'Logged', 'email_address': 'logged@example.com'})
            self.assertGreaterEqual(log.duration_ms, 0)
        self.assertEqual(json.loads(first.response_body), {'error': 'busy'})
        self.assertEqual(json.loads(first.response_headers)['X-Request-Id'], 'r-1')
        self.assertIn('503', first.error_message)
        self.assertEqual(json.loads(second.response_body), {'id': 42})
        self.assertEqual(json.loads(second.response_headers)['X-Request-Id'], 'r-2')
        self.assertGreaterEqual(second.duration_ms, 50)
        self.assertFalse(second.error_message)
        # The config's smart button counts them.
        self.assertEqual(config.log_count, 2)
        self.assertEqual(config.log_ids, logs)

    def test_paginated_log_lists_all_records(self):
        partners = self.env['res.partner'].create([{'name': f'L{i}'} for i in range(7)])
        config = self.make_config(lines=[('name', 'name')], is_paginated=True, page_size=7)
        config._make_outbound_http_request(partners, config.id)
        [log] = self.logs(config)
        self.assertEqual(log.res_ids, ','.join(map(str, partners.ids)))
        self.assertIn('7 records', log.name)

    def test_network_error_row(self):
        partner = self.env['res.partner'].create({'name': 'Net'})
        config = self.make_config(url=free_port_url('/x'), lines=[('name', 'name')], max_retries=0)
        config._make_outbound_http_request(partner, config.id)
        [log] = self.logs(config)
        self.assertEqual((log.status, log.attempt, log.response_status_code), ('error', 1, 0))
        self.assertIn('Connection refused', log.error_message)
        self.assertEqual(json.loads(log.request_body), {'name': 'Net'})
        self.assertFalse(log.response_body)

    def test_long_bodies_truncated(self):
        partner = self.env['res.partner'].create({'name': 'Big'})
        big_value = 'x' * (MAX_TEXT_LENGTH + 5000)
        config = self.make_config(lines=[{'api_key': 'blob', 'value_type': 'constant', 'constant_value': big_value}])
        self.api.reply(Reply(200, 'y' * (100 * 1024), headers={'Content-Type': 'text/plain'}))
        result = config._make_outbound_http_request(partner, config.id)
        self.assertTrue(result['success'], result)
        # The API gets everything; only the log is shortened.
        self.assertEqual(self.api.received[0].json, {'blob': big_value})
        self.assertEqual(len(result['response']), 100 * 1024)
        [log] = self.logs(config)
        self.assertTrue(log.request_body.startswith('{"blob": "xxx'))
        self.assertLess(len(log.request_body), MAX_TEXT_LENGTH + 200)
        self.assertIn('more characters not kept', log.request_body)
        self.assertLess(len(log.response_body), MAX_TEXT_LENGTH + 200)
        self.assertIn('more characters not kept', log.response_body)
        self.assertIn(str(100 * 1024 - MAX_TEXT_LENGTH), log.response_body)

    def test_body_at_limit_not_truncated(self):
        partner = self.env['res.partner'].create({'name': 'Edge'})
        config = self.make_config(lines=[('name', 'name')])
        self.api.reply(Reply(200, 'z' * MAX_TEXT_LENGTH, headers={'Content-Type': 'text/plain'}))
        config._make_outbound_http_request(partner, config.id)
        self.assertEqual(self.logs(config).response_body, 'z' * MAX_TEXT_LENGTH)

    def test_manual_log_create(self):
        config = self.make_config()
        log = self.env['bj.api.log'].create({'config_id': config.id, 'name': 'Manual entry', 'status': 'success'})
        self.assertEqual(log.config_id, config)
        self.assertEqual(log.status, 'success')
        self.assertIn(log, config.log_ids)
        self.assertTrue(self.env['bj.api.log'].create({'name': 'No config'}))

    def test_manual_log_create_from_server_action(self):
        config = self.make_config()
        action = self.env['ir.actions.server'].create({
            'name': 'Write a BJ API log',
            'model_id': self.partner_model.id,
            'state': 'code',
            'code': f"env['bj.api.log'].create({{'config_id': {config.id}, 'name': 'From action', 'status': 'success'}})",
        })
        partner = self.env['res.partner'].create({'name': 'Ctx'})
        action.with_context(active_model='res.partner', active_id=partner.id, active_ids=partner.ids).run()
        self.assertEqual(self.logs(config).mapped('name'), ['From action'])


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestSecretMasking(BjApiCase):
    """Secrets never reach a log row, nor the server log, even when the API echoes them back."""

    PASSWORD = 'Pw-S3cr3t-xyz'
    TOKEN = 'sk_live_abc123xyz789'
    API_KEY = 'k3y-ABCDEF-123456'
    URL_PASSWORD = 'UrlPa55-q9'

    def _assert_clean(self, logs, secrets):
        self.assertTrue(logs)
        for log in logs:
            values = log.read(TEXT_FIELDS)[0]
            for field in TEXT_FIELDS:
                for secret in secrets:
                    self.assertNotIn(secret, str(values[field] or ''), f"{secret!r} in log {log.id} field {field}")

    def _echo(self, *secrets):
        """A reply body and headers that repeat the secrets, as a careless API might."""
        echo = {'received': {f's{i}': secret for i, secret in enumerate(secrets)}, 'text': ' / '.join(secrets)}
        return Reply(200, echo, headers={'X-Echo': ' '.join(secrets)})

    def test_basic_auth_and_api_key_masked(self):
        partner = self.env['res.partner'].create({'name': 'Masked'})
        basic = base64.b64encode(f'api_user:{self.PASSWORD}'.encode()).decode()
        secrets = [self.PASSWORD, basic, self.API_KEY]
        config = self.make_config(
            lines=[('name', 'name'), {'api_key': 'echo', 'value_type': 'constant', 'constant_value': self.API_KEY}],
            auth_type='basic', auth_login='api_user', auth_password=self.PASSWORD,
            header_ids=[(0, 0, {'key': 'X-Api-Key', 'value': self.API_KEY})])
        self.api.reply(Reply(500, self._echo(*secrets).body), self._echo(*secrets))
        with self.assertLogs('odoo.addons.bj_api_sync', logging.INFO) as server_log:
            result = config._make_outbound_http_request(partner, config.id)
        self.assertTrue(result['success'], result)
        # They were really sent.
        self.assertEqual(self.api.received[0].headers['Authorization'], f'Basic {basic}')
        self.assertEqual(self.api.received[0].headers['X-Api-Key'], self.API_KEY)
        logs = self.logs(config)
        self.assertEqual(len(logs), 2)
        self._assert_clean(logs, secrets)
        headers = json.loads(logs[0].request_headers)
        self.assertEqual(headers['Authorization'], 'Basic ***')
        self.assertEqual(headers['X-Api-Key'], '***')
        self.assertIn('***', logs[0].response_body)
        self.assertIn('***', logs[0].error_message)
        for line in server_log.output:
            for secret in secrets:
                self.assertNotIn(secret, line)

    def test_bearer_token_masked(self):
        partner = self.env['res.partner'].create({'name': 'Masked'})
        config = self.make_config(lines=[('name', 'name')], auth_type='bearer', bearer_token=self.TOKEN)
        self.api.reply(Reply(401, {'error': f'token {self.TOKEN} revoked'}))
        result = config._make_outbound_http_request(partner, config.id)
        self.assertFalse(result['success'])
        self.assertEqual(self.api.received[0].headers['Authorization'], f'Bearer {self.TOKEN}')
        self._assert_clean(self.logs(config), [self.TOKEN])
        self.assertEqual(json.loads(self.logs(config).request_headers)['Authorization'], 'Bearer ***')
        for error in result['errors']:
            self.assertNotIn(self.TOKEN, error)

    def test_credentials_in_url_masked(self):
        partner = self.env['res.partner'].create({'name': 'Masked'})
        url_basic = base64.b64encode(f'urluser:{self.URL_PASSWORD}'.encode()).decode()
        secrets = [self.URL_PASSWORD, url_basic]
        config = self.make_config(
            lines=[('name', 'name')],
            url=self.api.url('/api/items').replace('http://', f'http://urluser:{self.URL_PASSWORD}@'))
        self.api.reply(Reply(503, self._echo(*secrets).body), self._echo(*secrets))
        with self.assertLogs('odoo.addons.bj_api_sync', logging.INFO) as server_log:
            result = config._make_outbound_http_request(partner, config.id)
        self.assertTrue(result['success'], result)
        logs = self.logs(config)
        self.assertEqual(len(logs), 2)
        self._assert_clean(logs, secrets)
        self.assertTrue(logs[0].url.startswith('http://***@127.0.0.1:'), logs[0].url)
        for line in server_log.output:
            for secret in secrets:
                self.assertNotIn(secret, line)

    def test_credentials_in_url_masked_on_network_error(self):
        partner = self.env['res.partner'].create({'name': 'Masked'})
        config = self.make_config(
            lines=[('name', 'name')], max_retries=0,
            url=free_port_url('/api').replace('http://', f'http://urluser:{self.URL_PASSWORD}@'))
        result = config._make_outbound_http_request(partner, config.id)
        self.assertFalse(result['success'])
        self._assert_clean(self.logs(config), [self.URL_PASSWORD])
        self.assertNotIn(self.URL_PASSWORD, ' '.join(result['errors']))

    def test_skipped_and_error_rows_masked(self):
        partner = self.env['res.partner'].create({'name': 'Masked'})
        config = self.make_config(
            lines=[('name', 'name')], domain="[('email', '!=', False)]",
            url=self.api.url('/api').replace('http://', f'http://urluser:{self.URL_PASSWORD}@'),
            auth_type='bearer', bearer_token=self.TOKEN)
        config._make_outbound_http_request(partner, config.id)
        self.assertEqual(self.logs(config).mapped('status'), ['skipped'])
        self._assert_clean(self.logs(config), [self.URL_PASSWORD, self.TOKEN])


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestLogsSurviveRollback(BjApiCase):
    """The log rows of a call survive a rollback of the caller's transaction.

    The test transaction (self.cr) must not be rolled back, so this works with real,
    committed cursors and removes what it committed afterwards.
    """

    def _committed_config(self, name, path):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            config = env['bj.api.sync.config'].create({
                'name': name,
                'request_type': 'out',
                'model_id': env['ir.model']._get('res.partner').id,
                'url': self.api.url(path),
                'http_method_ids': [(6, 0, env.ref('bj_api_sync.http_method_post').ids)],
                'line_ids': [(0, 0, {'api_key': 'name', 'field_path': 'name'})],
                'max_retries': 1,
            })
            config_id = config.id
        self.addCleanup(self._delete_committed, config_id, path)
        return config_id

    def _delete_committed(self, config_id, path):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env['bj.api.log'].search([('url', 'like', path)]).unlink()
            env['bj.api.sync.config'].browse(config_id).exists().unlink()

    def _logs_in_new_cursor(self, path):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            logs = env['bj.api.log'].search([('url', 'like', path)], order='id')
            return [(log.config_id.id, log.status, log.attempt, log.response_status_code, log.res_ids)
                    for log in logs]

    def test_logs_survive_rollback(self):
        path = f'/rollback-{uuid.uuid4().hex}'
        config_id = self._committed_config('BJ rollback test', path)
        partner_id = self.env.ref('base.partner_admin').id
        # Retry-After: 0, as the backoff parameters set by the test transaction are not visible here.
        self.api.reply(Reply(503, headers={'Retry-After': '0'}))
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            result = env['bj.api.sync.config']._make_outbound_http_request(
                record_ids=partner_id, config_id_ref=config_id)
            self.assertTrue(result['success'], result)
            self.assertEqual(len(result['log_ids']), 2)
            cr.rollback()
        self.assertEqual(len(self.api.received), 2)
        self.assertEqual(self._logs_in_new_cursor(path), [
            (config_id, 'retry', 1, 503, str(partner_id)),
            (config_id, 'success', 2, 200, str(partner_id)),
        ])

    def test_committed_call_logged_once(self):
        path = f'/commit-{uuid.uuid4().hex}'
        config_id = self._committed_config('BJ commit test', path)
        partner_id = self.env.ref('base.partner_admin').id
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env['bj.api.sync.config'].browse(config_id)._make_outbound_http_request(partner_id)
            cr.commit()  # pylint: disable=invalid-commit  # a cursor of the test's own: the commit is what is tested
            # A later rollback in the same cursor must not write the committed rows again.
            cr.rollback()
        self.assertEqual(self._logs_in_new_cursor(path), [(config_id, 'success', 1, 200, str(partner_id))])

    def test_config_created_in_rolled_back_transaction(self):
        path = f'/gone-{uuid.uuid4().hex}'
        self.addCleanup(self._delete_committed, 0, path)
        partner_id = self.env.ref('base.partner_admin').id
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            config = env['bj.api.sync.config'].create({
                'name': 'BJ short-lived',
                'model_id': env['ir.model']._get('res.partner').id,
                'url': self.api.url(path),
                'http_method_ids': [(6, 0, env.ref('bj_api_sync.http_method_put').ids)],
                'line_ids': [(0, 0, {'api_key': 'name', 'field_path': 'name'})],
            })
            config._make_outbound_http_request(partner_id)
            cr.rollback()
        self.assertEqual(self._logs_in_new_cursor(path), [(False, 'success', 1, 200, str(partner_id))])
