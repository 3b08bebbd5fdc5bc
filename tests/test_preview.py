"""Preview Payload (nothing sent), Send Test (sent now, one attempt, log opened) and the
statistics shown on configurations and logs."""
import base64
import json
from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import Form, tagged
from odoo.tools import mute_logger

from .common import BjApiCase, Reply, free_port_url

LOGIN, PASSWORD, TOKEN, API_KEY = 'preview_user', 'pr3view-Pa55word', 'tok-preview-SECRET-123', 'key-preview-SECRET-456'


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestPreview(BjApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Partner = cls.env['res.partner']
        cls.company = Partner.create({'name': 'Preview Company', 'is_company': True})
        cls.partner = Partner.create({
            'name': 'Preview Olena', 'email': 'olena@example.com', 'parent_id': cls.company.id})
        cls.other = Partner.create({'name': 'Preview Taras', 'email': 'taras@example.com'})

    def make_preview_config(self, **values):
        values.setdefault('lines', [
            {'api_key': 'external_id', 'field_path': 'id', 'is_identifier': True},
            ('full_name', 'name'),
            ('email_address', 'email'),
            {'api_key': 'company.name', 'field_path': 'parent_id.name', 'value_type': 'relational'},
        ])
        values.setdefault('domain', "[('name', '=like', 'Preview %')]")
        return self.make_config(**values)

    def preview(self, config, record=None, **values):
        wizard = self.env['bj.api.sync.preview.wizard'].create({
            'config_id': config.id, **({'res_id': record.id} if record else {}), **values})
        return wizard

    def log_count(self):
        return self.env['bj.api.log'].search_count([])

    def assertNoSecret(self, wizard):
        shown = json.dumps(wizard.read()[0], default=str)
        for secret in (PASSWORD, TOKEN, API_KEY, base64.b64encode(f'{LOGIN}:{PASSWORD}'.encode()).decode()):
            self.assertNotIn(secret, shown)

    # ------------------------------------------------------------------ preview

    def test_preview_shows_the_request_without_sending(self):
        config = self.make_preview_config(
            url=self.api.url('/api/partners/{external_id}'),
            auth_type='basic', auth_login=LOGIN, auth_password=PASSWORD,
            header_ids=[(0, 0, {'key': 'X-API-Version', 'value': '2.0'}),
                        (0, 0, {'key': 'X-Api-Key', 'value': API_KEY})],
            param_ids=[(0, 0, {'key': 'source', 'value': 'odoo'})])
        logs_before = self.log_count()
        wizard = self.preview(config, self.partner)

        self.assertEqual(wizard.preview_method, 'POST')
        self.assertEqual(wizard.preview_url, self.api.url(f'/api/partners/{self.partner.id}?source=odoo'))
        self.assertEqual(json.loads(wizard.preview_body), {
            'external_id': self.partner.id, 'full_name': 'Preview Olena', 'email_address': 'olena@example.com',
            'company': {'name': 'Preview Company'}})
        self.assertIn('\n  "full_name": "Preview Olena"', wizard.preview_body, "pretty-printed")
        headers = json.loads(wizard.preview_headers)
        self.assertEqual(headers['Authorization'], 'Basic ***')
        self.assertEqual(headers['X-Api-Key'], '***')
        self.assertEqual(headers['X-API-Version'], '2.0')
        self.assertEqual(headers['Content-Type'], 'application/json')
        self.assertIn('Idempotency-Key', headers)
        self.assertFalse(wizard.preview_error)
        self.assertNoSecret(wizard)

        self.assertEqual(self.api.received, [], "a preview sends nothing")
        self.assertEqual(self.log_count(), logs_before, "a preview logs nothing")

    def test_preview_matches_what_send_test_sends(self):
        config = self.make_preview_config(auth_type='bearer', bearer_token=TOKEN)
        wizard = self.preview(config, self.partner)
        wizard.action_send_test()
        [received] = self.api.received
        self.assertEqual(received.json, json.loads(wizard.preview_body))
        self.assertEqual(self.api.url(received.path), wizard.preview_url)
        self.assertEqual(received.method, wizard.preview_method)
        self.assertEqual(received.headers['Authorization'], f'Bearer {TOKEN}')
        previewed = json.loads(wizard.preview_headers)
        for name in ('Content-Type', 'Authorization', 'Idempotency-Key'):
            self.assertIn(name, received.headers)
            self.assertIn(name, previewed)
        self.assertEqual(previewed['Authorization'], 'Bearer ***')

    def test_default_sample_is_the_first_record_of_the_domain(self):
        config = self.make_preview_config(domain="[('email', '=', 'taras@example.com')]")
        self.assertEqual(self.preview(config).res_id, self.other.id)
        config = self.make_preview_config(domain="[('name', '=like', 'Preview %')]")
        expected = self.env['res.partner'].search([('name', '=like', 'Preview %')], limit=1)
        self.assertEqual(self.preview(config).res_id, expected.id)

    def test_sample_follows_the_config_in_the_form(self):
        domain = [('email', 'in', ['taras@example.com', 'olena@example.com'])]
        config = self.make_preview_config(domain=repr(domain))
        first = self.env['res.partner'].search(domain, limit=1)
        form = Form(self.env['bj.api.sync.preview.wizard'].with_context(default_config_id=config.id))
        self.assertEqual(form.res_id, first.id)
        self.assertIn(first.name, form.preview_body)
        second = (self.partner | self.other) - first
        form.res_id = second.id
        self.assertIn(second.name, form.preview_body)
        self.assertNotIn(first.name, form.preview_body)
        self.assertEqual(form.preview_method, 'POST')
        self.assertEqual(self.api.received, [])

    def test_no_record_in_the_domain(self):
        config = self.make_preview_config(domain="[('name', '=', 'Nobody at all')]")
        wizard = self.preview(config)
        self.assertFalse(wizard.res_id)
        self.assertIn('Pick a sample record', wizard.preview_notice)
        with self.assertRaises(UserError) as caught:
            config.action_send_test()
        self.assertIn('no record of res.partner matches the filter domain', str(caught.exception))
        self.assertEqual(self.api.received, [])

    def test_record_outside_the_domain_is_skipped(self):
        config = self.make_preview_config(domain="[('email', '=', 'taras@example.com')]")
        wizard = self.preview(config, self.partner)
        self.assertIn('outside the filter domain', wizard.preview_notice)
        self.assertFalse(wizard.preview_url)
        self.assertFalse(wizard.preview_body)

    def test_script_error_is_shown_as_the_error_that_stops_the_request(self):
        config = self.make_preview_config(lines=[
            ('full_name', 'name'),
            {'api_key': 'ratio', 'value_type': 'python', 'python_code': 'x = 1\nresult = x / 0'},
        ])
        wizard = self.preview(config, self.partner)
        self.assertIn('ratio', wizard.preview_error)
        self.assertIn('division by zero', wizard.preview_error)
        self.assertFalse(wizard.preview_body)
        self.assertEqual(self.api.received, [])

    def test_payload_script_error_and_missing_placeholder(self):
        config = self.make_preview_config(python_script="result = request_data['missing']")
        self.assertIn('payload script', self.preview(config, self.partner).preview_error)
        config = self.make_preview_config(url=self.api.url('/api/{phone}'), python_script=False)
        self.assertIn('{phone}', self.preview(config, self.partner).preview_error)

    def test_configuration_error_is_shown(self):
        config = self.make_preview_config()
        config.write({'request_type': 'in', 'endpoint': 'preview', 'inbound_user_id': self.env.ref('base.user_admin').id})
        wizard = self.preview(config, self.partner)
        self.assertIn('is not an outbound configuration', wizard.preview_error)

    def test_get_has_no_body_and_a_query_string(self):
        config = self.make_preview_config(method=self.method_get, lines=[('full_name', 'name')])
        wizard = self.preview(config, self.partner)
        self.assertEqual(wizard.preview_method, 'GET')
        self.assertEqual(wizard.preview_url, self.api.url('/api/items?full_name=Preview+Olena'))
        self.assertFalse(wizard.preview_body)
        self.assertIn('query string', wizard.preview_notice)

    def test_paginated_body_is_a_page(self):
        config = self.make_preview_config(is_paginated=True, page_size=50, lines=[('full_name', 'name')])
        wizard = self.preview(config, self.partner)
        self.assertEqual(json.loads(wizard.preview_body), [{'full_name': 'Preview Olena'}])
        self.assertIn('up to 50 records', wizard.preview_notice)

    def test_payload_script_applies(self):
        config = self.make_preview_config(
            lines=[('full_name', 'name')],
            python_script="result = {'data': request_data, 'source': 'odoo'}")
        body = json.loads(self.preview(config, self.partner).preview_body)
        self.assertEqual(body, {'data': {'full_name': 'Preview Olena'}, 'source': 'odoo'})

    def test_signature_headers_are_masked(self):
        config = self.make_preview_config(sign_requests=True, signing_secret='whsec_' + base64.b64encode(b'k' * 24).decode())
        headers = json.loads(self.preview(config, self.partner).preview_headers)
        self.assertEqual(headers['webhook-signature'], '***')
        self.assertIn('webhook-timestamp', headers)

    def test_archived_configuration(self):
        config = self.make_preview_config()
        config.active = False
        wizard = self.preview(config, self.partner)
        self.assertIn('archived', wizard.preview_notice)
        self.assertIn('Unarchive', wizard.preview_notice)
        self.assertFalse(wizard.preview_body)

    def test_preview_button_opens_the_wizard(self):
        config = self.make_preview_config()
        action = config.action_preview_payload()
        self.assertEqual((action['res_model'], action['target']), ('bj.api.sync.preview.wizard', 'new'))
        self.assertEqual(action['context']['default_config_id'], config.id)
        form = self.env['bj.api.sync.preview.wizard'].get_views([(False, 'form')])['views']['form']['arch']
        for name in ('res_id', 'preview_url', 'preview_method', 'preview_headers', 'preview_body', 'preview_error',
                     'action_send_test'):
            self.assertIn(f'name="{name}"', form)

    # ------------------------------------------------------------------ send test

    def test_send_test_sends_now_notifies_and_opens_the_log(self):
        self.api.default = Reply(201, {'id': 'crm-7'})
        config = self.make_preview_config(auth_type='basic', auth_login=LOGIN, auth_password=PASSWORD)
        action = self.preview(config, self.partner).action_send_test()

        [received] = self.api.received
        self.assertEqual(received.json['full_name'], 'Preview Olena')
        self.assertEqual(received.headers['Authorization'],
                         'Basic ' + base64.b64encode(f'{LOGIN}:{PASSWORD}'.encode()).decode())
        [log] = self.logs(config)
        self.assertEqual((log.status, log.response_status_code, log.attempt), ('success', 201, 1))
        self.assertEqual(action['tag'], 'display_notification')
        params = action['params']
        self.assertEqual(params['type'], 'success')
        self.assertIn('HTTP 201', params['message'])
        self.assertIn(config.name, params['title'])
        self.assertEqual(params['next']['res_model'], 'bj.api.log')
        self.assertEqual(params['next']['res_id'], log.id)
        self.assertNotIn(PASSWORD, json.dumps(action, default=str))

    def test_send_test_failure_is_one_attempt_and_a_sticky_danger(self):
        self.api.default = Reply(503, {'error': 'down'})
        config = self.make_preview_config(max_retries=3)
        action = self.preview(config, self.partner).action_send_test()
        self.assertEqual(len(self.api.received), 1, "a test is one attempt, without retries")
        [log] = self.logs(config)
        self.assertEqual((log.status, log.response_status_code), ('error', 503))
        self.assertEqual(action['params']['type'], 'danger')
        self.assertTrue(action['params']['sticky'])
        self.assertIn('503', action['params']['message'])
        self.assertEqual(action['params']['next']['res_id'], log.id)

    @mute_logger('odoo.addons.bj_api_sync.engine.outbound.front_door')
    def test_send_test_connection_refused(self):
        config = self.make_preview_config(url=free_port_url('/api'))
        action = self.preview(config, self.partner).action_send_test()
        self.assertEqual(action['params']['type'], 'danger')
        self.assertIn('Connection', action['params']['message'])

    def test_send_test_of_a_record_outside_the_domain_is_a_skip(self):
        config = self.make_preview_config(domain="[('email', '=', 'taras@example.com')]")
        action = self.preview(config, self.partner).action_send_test()
        self.assertEqual(self.api.received, [])
        [log] = self.logs(config)
        self.assertEqual(log.status, 'skipped')
        self.assertEqual(action['params']['type'], 'warning')
        self.assertEqual(action['params']['next']['res_id'], log.id)

    def test_send_test_button_sends_the_first_record_of_the_domain(self):
        config = self.make_preview_config(domain="[('email', '=', 'taras@example.com')]")
        action = config.action_send_test()
        [received] = self.api.received
        self.assertEqual(received.json['full_name'], 'Preview Taras')
        self.assertEqual(action['params']['type'], 'success')

    def test_send_test_of_a_queued_configuration_sends_at_once(self):
        config = self.make_preview_config(delivery_mode='queued')
        jobs_before = self.env['bj.api.sync.job'].search_count([])
        config.action_send_test()
        self.assertEqual(len(self.api.received), 1)
        self.assertEqual(self.env['bj.api.sync.job'].search_count([]), jobs_before)

    # ------------------------------------------------------------------ statistics

    def add_log(self, config, status, days_ago=0, duration=10, attempt=1):
        log = self.env['bj.api.log'].create({
            'config_id': config.id, 'name': 'stat', 'status': status, 'duration_ms': duration, 'attempt': attempt})
        when = fields.Datetime.now() - timedelta(days=days_ago)
        self.env.flush_all()
        self.env.cr.execute("UPDATE bj_api_log SET create_date = %s WHERE id = %s", (when, log.id))
        log.invalidate_recordset(['create_date'])
        return when

    def test_statistics(self):
        busy, idle = self.make_preview_config(name='Busy'), self.make_preview_config(name='Idle')
        old_success = self.add_log(busy, 'success', days_ago=10, duration=5000)
        last_success = self.add_log(busy, 'success', days_ago=1, duration=100)
        self.add_log(busy, 'success', days_ago=2, duration=200)
        self.add_log(busy, 'success', days_ago=3, duration=300)
        last_error = self.add_log(busy, 'error', days_ago=0.5, duration=400)
        self.add_log(busy, 'retry', days_ago=0.6, duration=1000)       # an attempt, not a finished request
        self.add_log(busy, 'skipped', days_ago=0.7, duration=0, attempt=0)  # nothing sent
        self.env.invalidate_all()

        self.assertEqual(busy.last_success_date, last_success)
        self.assertEqual(busy.last_error_date, last_error)
        self.assertNotEqual(busy.last_success_date, old_success)
        self.assertEqual(busy.request_count_7d, 4)
        self.assertAlmostEqual(busy.success_rate_7d, 0.75)
        # Attempts of the last 7 days: 100, 200, 300, 400, 1000 ms.
        self.assertEqual(busy.duration_avg_7d, 400)
        self.assertEqual(busy.duration_p95_7d, 880)  # PERCENTILE_CONT: 400 + 0.8 * (1000 - 400)

        self.assertFalse(idle.last_success_date)
        self.assertFalse(idle.last_error_date)
        self.assertEqual((idle.request_count_7d, idle.success_rate_7d), (0, 0.0))
        self.assertEqual((idle.duration_avg_7d, idle.duration_p95_7d), (0, 0))

    def test_statistics_cost_does_not_grow_with_configurations(self):
        configs = self.env['bj.api.sync.config']
        for index in range(6):
            config = self.make_preview_config(name=f'Stat {index}')
            self.add_log(config, 'success')
            self.add_log(config, 'error')
            configs |= config
        stat_fields = ['last_success_date', 'last_error_date', 'request_count_7d', 'success_rate_7d',
                       'duration_avg_7d', 'duration_p95_7d']

        def queries(records):
            self.env.invalidate_all()
            records.fetch(['name'])
            before = self.env.cr.sql_log_count
            records.read(stat_fields)
            return self.env.cr.sql_log_count - before

        self.assertEqual(queries(configs[:1]), queries(configs))
        self.assertLessEqual(queries(configs), 3)

    def test_mapping_lines_open_a_form_with_the_code_editor(self):
        arch = self.env['bj.api.sync.config'].get_views([(False, 'form')])['views']['form']['arch']
        self.assertIn('open_form_view="True"', arch)
        line_form = self.env['bj.api.sync.config.line'].get_views([(False, 'form')])['views']['form']['arch']
        self.assertRegex(line_form, r'<field name="python_code"[^>]*widget="code"')
        self.assertIn('request_data', line_form, "a reference of the names available to scripts")
        line = self.make_preview_config().line_ids[:1]
        self.assertEqual(line.display_name, 'external_id')

    def test_config_list_shows_statistics(self):
        outbound_list = self.env.ref('bj_api_sync.view_bj_api_sync_config_outbound_list')
        arch = self.env['bj.api.sync.config'].get_views([(outbound_list.id, 'list')])['views']['list']['arch']
        for name in ('last_success_date', 'last_error_date', 'success_rate_7d', 'duration_p95_7d'):
            self.assertIn(f'name="{name}"', arch)

    # ------------------------------------------------------------------ logs

    def test_log_bodies_are_pretty_printed(self):
        log = self.env['bj.api.log'].create({
            'name': 'pretty', 'request_body': '{"a": 1, "b": [1, 2], "c": "Привіт"}', 'response_body': 'plain text'})
        self.assertEqual(log.request_body_pretty, '{\n  "a": 1,\n  "b": [\n    1,\n    2\n  ],\n  "c": "Привіт"\n}')
        self.assertEqual(log.response_body_pretty, 'plain text')
        self.assertEqual(log.request_body, '{"a": 1, "b": [1, 2], "c": "Привіт"}', "stored as sent")

    def test_log_views_and_duration_average(self):
        Log = self.env['bj.api.log']
        views = Log.get_views([(False, 'graph'), (False, 'pivot'), (False, 'search')])['views']
        self.assertIn('create_date', views['graph']['arch'])
        self.assertIn('duration_ms', views['pivot']['arch'])
        for name in ('errors', 'today', 'group_config', 'group_status', 'group_day'):
            self.assertIn(f'name="{name}"', views['search']['arch'])
        self.assertEqual(Log._fields['duration_ms'].aggregator, 'avg')
        action = self.env.ref('bj_api_sync.action_bj_api_log')
        self.assertEqual(set(action.view_mode.split(',')), {'list', 'form', 'graph', 'pivot'})

    def test_logs_smart_button_filters_on_this_configuration(self):
        config = self.make_preview_config()
        action = config.action_open_logs()
        self.assertEqual(action['context']['search_default_config_id'], config.id)

    # ------------------------------------------------------------------ demo data

    def test_demo_configurations_of_the_guide(self):
        demo = [self.env.ref(f'bj_api_sync.{name}', raise_if_not_found=False) for name in (
            'demo_config_customers_crm', 'demo_config_inventory_update', 'demo_config_cancelled_orders')]
        if not all(demo):
            self.skipTest("demo data not installed")
        crm, inventory, cancelled = [config.with_context(active_test=False) for config in demo]
        for config in (crm, inventory, cancelled):
            self.assertFalse(config.active, "demo configurations never send")
            self.assertEqual(config.model_name, 'res.partner')
            self.assertTrue(config.url.startswith('http://127.0.0.1:'), "demo configurations point at a local address")
        self.assertEqual([m.http_method_ids.name for m in (crm, inventory, cancelled)], ['POST', 'PUT', 'DELETE'])
        self.assertEqual(crm.line_ids.mapped('api_key'),
                         ['full_name', 'email_address', 'contact_number', 'external_id', 'company_name'])
        self.assertEqual((crm.connection_timeout, crm.read_timeout, crm.auth_type), (10, 30, 'basic'))

        # Once unarchived and pointed at the test server, they send as the guide shows.
        (crm | inventory | cancelled).write({'active': True})
        crm.url = self.api.url('/crm/api/customers')
        self.partner.phone = '555-0100'
        body = json.loads(self.preview(crm, self.partner).preview_body)
        self.assertEqual(body, {'full_name': 'Preview Olena', 'email_address': 'olena@example.com',
                                'contact_number': '555-0100', 'external_id': self.partner.id,
                                'company_name': 'Preview Company'})
        self.assertEqual(json.loads(self.preview(crm, self.partner).preview_headers)['Authorization'], 'Basic ***')

        wizard = self.preview(inventory, self.company)
        self.assertFalse(wizard.preview_error)
        body = json.loads(wizard.preview_body)
        self.assertEqual(body['source'], 'odoo')
        self.assertEqual(body['data'], [{'external_id': self.company.id, 'name': 'Preview Company', 'phone': '+1'}])
        self.assertEqual(json.loads(wizard.preview_headers)['Authorization'], 'Bearer ***')

        self.other.active = False
        wizard = self.preview(cancelled, self.other)
        self.assertEqual(wizard.preview_method, 'DELETE')
        self.assertEqual(json.loads(wizard.preview_body), {'external_id': self.other.id, 'name': 'Preview Taras'})
        self.assertEqual(self.api.received, [])
