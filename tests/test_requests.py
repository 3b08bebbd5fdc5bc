import base64

from odoo.exceptions import UserError
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

    def test_a_host_beyond_loopback_meets_the_guard_of_outgoing_requests(self):
        """Every attempt goes through requests.Session.send, where Odoo's test framework (and any
        integrator's patch) guards outgoing requests."""
        partner = self.env['res.partner'].create({'name': 'T'})
        config = self.make_config(lines=[('name', 'name')], max_retries=0)
        config.url = 'http://api.example.com/items'
        result = config._make_outbound_http_request(partner, config.id)
        self.assertFalse(result['success'])
        self.assertIn('Only loopback requests in tests', result['errors'][0])


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestEntryPoint(BjApiCase):
    """The entry point: both call forms, every way to name the config and the records, and the errors."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Partner = cls.env['res.partner']
        cls.partners = Partner.create([{'name': f'Entry {i}', 'email': f'entry{i}@example.com'} for i in range(3)])

    def _config(self, **values):
        return self.make_config(lines=[('name', 'name'), ('external_id', 'id')], **values)

    def _sent_ids(self):
        return [received.json['external_id'] for received in self.api.received]

    def test_call_on_config_with_id_and_timeout(self):
        config = self._config()
        partner = self.partners[0]
        result = config._make_outbound_http_request(partner, config.id, timeout=60)
        self.assertTrue(result['success'], result)
        self.assertEqual(self._sent_ids(), [partner.id])

    def test_call_on_model_with_keywords(self):
        config = self._config()
        result = self.env['bj.api.sync.config']._make_outbound_http_request(
            record_ids=self.partners, config_id_ref=config.id)
        self.assertTrue(result['success'], result)
        self.assertEqual(self._sent_ids(), self.partners.ids)
        self.assertEqual(len(result['requests']), 3)

    def test_config_ref_forms(self):
        config = self._config()
        self.env['ir.model.data'].create({
            'module': '__test__', 'name': 'cfg', 'model': 'bj.api.sync.config', 'res_id': config.id})
        partner = self.partners[0]
        Config = self.env['bj.api.sync.config']
        for ref in (config.id, str(config.id), '__test__.cfg', config):
            with self.subTest(ref=ref):
                self.api.reset()
                result = Config._make_outbound_http_request(record_ids=partner, config_id_ref=ref)
                self.assertTrue(result['success'], result)
                self.assertEqual(self._sent_ids(), [partner.id])
        # Omitted on a single config record.
        self.api.reset()
        result = config._make_outbound_http_request(partner)
        self.assertTrue(result['success'], result)
        self.assertEqual(self._sent_ids(), [partner.id])
        self.api.reset()
        result = config._make_outbound_http_request(record_ids=partner)
        self.assertEqual(self._sent_ids(), [partner.id])

    def test_record_forms(self):
        config = self._config()
        p0, p1, p2 = self.partners
        for records, expected in [
            (self.partners, self.partners.ids),
            (p1, [p1.id]),
            (p2.id, [p2.id]),
            ([p0.id, p2.id], [p0.id, p2.id]),
            ((p1.id,), [p1.id]),
        ]:
            with self.subTest(records=records):
                self.api.reset()
                result = config._make_outbound_http_request(records, config.id)
                self.assertTrue(result['success'], result)
                self.assertEqual(self._sent_ids(), expected)

    def test_ids_that_do_not_exist_are_skipped(self):
        config = self._config()
        missing = self.env['res.partner'].create({'name': 'gone'})
        missing_id = missing.id
        missing.unlink()
        result = config._make_outbound_http_request([self.partners[0].id, missing_id], config.id)
        self.assertTrue(result['success'], result)
        self.assertEqual(self._sent_ids(), [self.partners[0].id])
        self.assertEqual(result['skipped_ids'], [missing_id])
        skipped = self.logs(config).filtered(lambda log: log.status == 'skipped')
        self.assertEqual(skipped.res_ids, str(missing_id))

    def test_empty_records_send_nothing(self):
        config = self._config()
        result = config._make_outbound_http_request(self.env['res.partner'], config.id)
        self.assertTrue(result['success'])
        self.assertEqual(result['requests'], [])
        self.assertFalse(self.api.received)

    def test_bad_calls_raise_user_error(self):
        config = self._config()
        Config = self.env['bj.api.sync.config']
        partner = self.partners[0]
        in_config = Config.create({
            'name': 'Inbound', 'request_type': 'in', 'model_id': self.partner_model.id, 'endpoint': 'inbound',
            'inbound_user_id': self.env.ref('base.user_admin').id, 'http_method_ids': [(6, 0, self.method_get.ids)]})
        unknown_id = Config.search([], order='id desc', limit=1).id + 1000
        cases = [
            # (call, words expected in the message)
            (lambda: config._make_outbound_http_request(self.env.user, config.id), ['res.partner', 'res.users']),
            (lambda: Config._make_outbound_http_request(partner, unknown_id), ['does not exist']),
            (lambda: Config._make_outbound_http_request(partner, '__test__.no_such_config'), ['__test__.no_such_config']),
            (lambda: Config._make_outbound_http_request(partner, 'base.main_partner'), ['base.main_partner']),
            (lambda: Config._make_outbound_http_request(partner, partner), ['not one API configuration']),
            (lambda: Config._make_outbound_http_request(partner, 'not an id'), ["'not an id'"]),
            (lambda: Config._make_outbound_http_request(partner), ['config_id_ref']),
            (lambda: (config | in_config)._make_outbound_http_request(partner), ['config_id_ref']),
            (lambda: Config._make_outbound_http_request(partner, in_config.id), ['Inbound', 'not an outbound configuration']),
            (lambda: config._make_outbound_http_request(['a', 'b'], config.id), ['integers']),
            (lambda: config._make_outbound_http_request([partner.id, 'x'], config.id), ['integers']),
        ]
        for index, (call, words) in enumerate(cases):
            with self.subTest(case=index), self.assertRaises(UserError) as caught:
                call()
            for word in words:
                self.assertIn(word, str(caught.exception), f"case {index}")
        self.assertFalse(self.api.received)


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestTimeoutOverride(BjApiCase):
    """`timeout=`: a number overrides the read timeout, a pair overrides both."""

    def test_timeouts_passed_to_transport(self):
        partner = self.env['res.partner'].create({'name': 'T'})
        config = self.make_config(lines=[('name', 'name')], connection_timeout=4, read_timeout=20)
        with self.sent_timeouts() as seen:
            config._make_outbound_http_request(partner, config.id)
            config._make_outbound_http_request(partner, config.id, timeout=60)
            config._make_outbound_http_request(partner, config.id, timeout=(2, 7))
            config._make_outbound_http_request(partner, config.id, timeout=[3, 9.5])
        self.assertEqual(seen, [(4, 20), (4, 60.0), (2.0, 7.0), (3.0, 9.5)])

    def test_read_timeout_number(self):
        partner = self.env['res.partner'].create({'name': 'T'})
        config = self.make_config(lines=[('name', 'name')], max_retries=0, read_timeout=15)
        self.api.reply(Reply(delay=1.5))
        result = config._make_outbound_http_request(partner, config.id, timeout=1)
        self.assertFalse(result['success'])
        self.assertIsNone(result['status_code'])
        self.assertRegex(result['errors'][0], r'^No answer from 127\.0\.0\.1:\d+ within ')
        [log] = self.logs(config)
        self.assertEqual((log.status, log.attempt), ('error', 1))
        self.assertRegex(log.error_message, r'^No answer from 127\.0\.0\.1:\d+ within ')
        self.assertGreaterEqual(log.duration_ms, 900)
        self.assertLess(log.duration_ms, 1500)

        self.api.reply(Reply(delay=1.5))
        result = config._make_outbound_http_request(partner, config.id, timeout=3)
        self.assertTrue(result['success'], result)
        self.assertEqual(len(self.api.received), 2)

    def test_read_timeout_pair(self):
        partner = self.env['res.partner'].create({'name': 'T'})
        config = self.make_config(lines=[('name', 'name')], max_retries=0, read_timeout=15)
        self.api.reply(Reply(delay=0.6))
        result = config._make_outbound_http_request(partner, config.id, timeout=(5, 0.3))
        self.assertFalse(result['success'])
        self.assertRegex(result['errors'][0], r'^No answer from 127\.0\.0\.1:\d+ within ')


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestDomainFiltering(BjApiCase):
    """Records outside the config's domain are not sent; one skipped log row lists them."""

    def test_records_outside_domain_skipped(self):
        Partner = self.env['res.partner']
        with_email = Partner.create([{'name': 'A', 'email': 'a@example.com'}, {'name': 'B', 'email': 'b@example.com'}])
        without = Partner.create([{'name': 'C'}, {'name': 'D'}])
        config = self.make_config(lines=[('external_id', 'id')], domain="[('email', '!=', False)]")
        result = config._make_outbound_http_request(with_email | without, config.id)
        self.assertTrue(result['success'], result)
        self.assertEqual([r.json['external_id'] for r in self.api.received], with_email.ids)
        self.assertEqual(sorted(result['skipped_ids']), sorted(without.ids))
        skipped = self.logs(config).filtered(lambda log: log.status == 'skipped')
        self.assertEqual(len(skipped), 1)
        self.assertEqual(sorted(map(int, skipped.res_ids.split(','))), sorted(without.ids))
        self.assertEqual(skipped.attempt, 0)
        self.assertIn('domain', skipped.error_message)
        self.assertIn(skipped.id, result['log_ids'])

    def test_all_outside_domain_sends_nothing(self):
        partner = self.env['res.partner'].create({'name': 'C'})
        config = self.make_config(lines=[('external_id', 'id')], domain="[('email', '!=', False)]")
        result = config._make_outbound_http_request(partner, config.id)
        self.assertFalse(self.api.received)
        self.assertEqual(result['skipped_ids'], [partner.id])
        self.assertEqual(self.logs(config).mapped('status'), ['skipped'])

    def _age(self, partner, days):
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE res_partner SET create_date = (now() at time zone 'UTC') - %s * interval '1 day' WHERE id = %s",
            [days, partner.id])
        partner.invalidate_recordset(['create_date'])

    def test_guide_last_seven_days_domain(self):
        Partner = self.env['res.partner']
        recent, old = Partner.create([{'name': 'Recent'}, {'name': 'Old'}])
        self._age(old, 30)
        config = self.make_config(
            lines=[('external_id', 'id')],
            domain="[('create_date', '>=', (datetime.now() - timedelta(days=7)).strftime('%Y-%m-%d'))]")
        result = config._make_outbound_http_request(recent | old, config.id)
        self.assertEqual([r.json['external_id'] for r in self.api.received], [recent.id])
        self.assertEqual(result['skipped_ids'], [old.id])

    def test_relativedelta_domain(self):
        Partner = self.env['res.partner']
        recent, old = Partner.create([{'name': 'Recent'}, {'name': 'Old'}])
        self._age(old, 100)
        config = self.make_config(
            lines=[('external_id', 'id')],
            domain="[('create_date', '>=', (datetime.now() - relativedelta(months=1)).strftime('%Y-%m-%d'))]")
        result = config._make_outbound_http_request(recent | old, config.id)
        self.assertEqual([r.json['external_id'] for r in self.api.received], [recent.id])
        self.assertEqual(result['skipped_ids'], [old.id])

    def test_domain_sees_archived_records_it_selects(self):
        partner = self.env['res.partner'].create({'name': 'Archived', 'active': False})
        config = self.make_config(lines=[('external_id', 'id')], domain="[('active', '=', False)]")
        config._make_outbound_http_request(partner, config.id)
        self.assertEqual([r.json['external_id'] for r in self.api.received], [partner.id])

    def test_archived_config_sends_nothing(self):
        partner = self.env['res.partner'].create({'name': 'X'})
        config = self.make_config(lines=[('external_id', 'id')])
        config.active = False
        result = config._make_outbound_http_request(partner, config.id)
        self.assertFalse(self.api.received)
        self.assertEqual(result['requests'], [])
        self.assertEqual(result['skipped_ids'], [partner.id])
        [log] = self.logs(config)
        self.assertEqual(log.status, 'skipped')
        self.assertIn('archived', log.error_message)
        # Also by XML id and from the model.
        self.env['ir.model.data'].create({
            'module': '__test__', 'name': 'archived_cfg', 'model': 'bj.api.sync.config', 'res_id': config.id})
        self.env['bj.api.sync.config']._make_outbound_http_request(partner, '__test__.archived_cfg')
        self.assertFalse(self.api.received)
        self.assertEqual(self.logs(config).mapped('status'), ['skipped', 'skipped'])


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestRequestBuilding(BjApiCase):
    """Requests: headers, methods, query strings, placeholders, batching, result dict."""

    def test_custom_headers(self):
        partner = self.env['res.partner'].create({'name': 'H'})
        config = self.make_config(lines=[('name', 'name')], header_ids=[
            (0, 0, {'key': 'X-API-Version', 'value': '2.0'}),
            (0, 0, {'key': 'X-Client-Id', 'value': 'odoo-integration'}),
        ])
        config._make_outbound_http_request(partner, config.id)
        headers = self.api.received[-1].headers
        self.assertEqual(headers['X-API-Version'], '2.0')
        self.assertEqual(headers['X-Client-Id'], 'odoo-integration')
        self.assertEqual(headers['Content-Type'], 'application/json')

    def test_custom_content_type_overrides_default(self):
        partner = self.env['res.partner'].create({'name': 'H'})
        config = self.make_config(lines=[('name', 'name')], header_ids=[
            (0, 0, {'key': 'content-type', 'value': 'application/vnd.api+json'})])
        config._make_outbound_http_request(partner, config.id)
        received = self.api.received[-1]
        content_types = [v for k, v in received.headers.items() if k.lower() == 'content-type']
        self.assertEqual(content_types, ['application/vnd.api+json'])
        self.assertEqual(received.json, {'name': 'H'})

    def test_auth_header_comes_after_custom_headers(self):
        partner = self.env['res.partner'].create({'name': 'H'})
        config = self.make_config(lines=[('name', 'name')], auth_type='bearer', bearer_token='tok-12345',
                                  header_ids=[(0, 0, {'key': 'Authorization', 'value': 'Custom zzz'})])
        config._make_outbound_http_request(partner, config.id)
        self.assertEqual(self.api.received[-1].headers['Authorization'], 'Bearer tok-12345')

    def test_get_sends_query_string_and_no_body(self):
        partner = self.env['res.partner'].create({'name': 'Query Me', 'email': 'q@example.com', 'ref': 'R&D 1'})
        config = self.make_config(
            method=self.method_get, url=self.api.url('/api/search'),
            lines=[('name', 'name'), ('email', 'email'), ('ref', 'ref'), ('external_id', 'id'),
                   ('website', 'website')],
            param_ids=[
                (0, 0, {'key': 'updated_since', 'operator': '>=', 'value': '2024-01-01'}),
                (0, 0, {'key': 'limit', 'value': '10'}),
            ])
        result = config._make_outbound_http_request(partner, config.id)
        self.assertTrue(result['success'], result)
        [received] = self.api.received
        self.assertEqual(received.method, 'GET')
        self.assertEqual(received.path, '/api/search')
        self.assertEqual(received.body, b'')
        self.assertEqual(received.query, [
            ('updated_since>', '2024-01-01'), ('limit', '10'),
            ('name', 'Query Me'), ('email', 'q@example.com'), ('ref', 'R&D 1'), ('external_id', str(partner.id)),
        ])  # website is empty (null): not sent
        [log] = self.logs(config)
        # The log shows the URL as sent: requests percent-encodes the operator on the wire.
        self.assertIn('updated_since%3E=2024-01-01', log.url)
        self.assertFalse(log.request_body)

    def test_post_put_delete_send_json_bodies(self):
        partner = self.env['res.partner'].create({'name': 'Body', 'email': 'body@example.com'})
        for method in (self.method_post, self.method_put, self.method_delete):
            with self.subTest(method=method.name):
                self.api.reset()
                config = self.make_config(method=method, lines=[('name', 'name'), ('email', 'email')],
                                          param_ids=[(0, 0, {'key': 'source', 'value': 'odoo'})])
                result = config._make_outbound_http_request(partner, config.id)
                self.assertTrue(result['success'], result)
                [received] = self.api.received
                self.assertEqual(received.method, method.name)
                self.assertEqual(received.json, {'name': 'Body', 'email': 'body@example.com'})
                self.assertEqual(received.query, [('source', 'odoo')])
                self.assertEqual(received.headers['Content-Type'], 'application/json')

    def test_url_placeholder_filled_and_encoded(self):
        partners = self.env['res.partner'].create([{'name': 'P1', 'ref': 'AB 12/3'}, {'name': 'P2', 'ref': 'ä?x#'}])
        config = self.make_config(method=self.method_put, url=self.api.url('/partners/{external_id}'),
                                  lines=[('external_id', 'ref'), ('name', 'name')])
        result = config._make_outbound_http_request(partners, config.id)
        self.assertTrue(result['success'], result)
        self.assertEqual([r.path for r in self.api.received], ['/partners/AB%2012%2F3', '/partners/%C3%A4%3Fx%23'])
        self.assertEqual(self.api.received[0].query, [])
        self.assertEqual(self.api.received[0].json, {'external_id': 'AB 12/3', 'name': 'P1'})
        self.assertTrue(self.logs(config)[0].url.endswith('/partners/AB%2012%2F3'))

    def test_url_placeholder_from_id(self):
        partner = self.env['res.partner'].create({'name': 'P'})
        config = self.make_config(method=self.method_delete, url=self.api.url('/partners/{external_id}'),
                                  lines=[('external_id', 'id')])
        config._make_outbound_http_request(partner, config.id)
        self.assertEqual(self.api.received[0].path, f'/partners/{partner.id}')

    def test_missing_placeholder_value(self):
        with_ref, without_ref = self.env['res.partner'].create([{'name': 'A', 'ref': 'A1'}, {'name': 'B'}])
        config = self.make_config(url=self.api.url('/partners/{external_id}'),
                                  lines=[('external_id', 'ref'), ('name', 'name')])
        result = config._make_outbound_http_request(without_ref | with_ref, config.id)
        self.assertFalse(result['success'])
        self.assertEqual([r.path for r in self.api.received], ['/partners/A1'])
        error_log = self.logs(config).filtered(lambda log: log.status == 'error')
        self.assertEqual(error_log.res_ids, str(without_ref.id))
        self.assertEqual(error_log.attempt, 0)
        self.assertIn('{external_id}', error_log.error_message)
        self.assertTrue(any('{external_id}' in error for error in result['errors']))
        self.assertEqual([req['success'] for req in result['requests']], [False, True])

    def test_placeholder_not_in_payload(self):
        partner = self.env['res.partner'].create({'name': 'A'})
        config = self.make_config(url=self.api.url('/partners/{code}'), lines=[('name', 'name')])
        result = config._make_outbound_http_request(partner, config.id)
        self.assertFalse(result['success'])
        self.assertFalse(self.api.received)
        self.assertEqual(self.logs(config).mapped('status'), ['error'])

    def test_pagination_sends_arrays(self):
        partners = self.env['res.partner'].create([{'name': f'Page {i}'} for i in range(5)])
        config = self.make_config(lines=[('external_id', 'id'), ('name', 'name')], is_paginated=True, page_size=2)
        result = config._make_outbound_http_request(partners, config.id)
        self.assertTrue(result['success'], result)
        bodies = [r.json for r in self.api.received]
        self.assertEqual([len(body) for body in bodies], [2, 2, 1])
        self.assertTrue(all(isinstance(body, list) for body in bodies))
        self.assertEqual([item['external_id'] for body in bodies for item in body], partners.ids)
        self.assertEqual(bodies[0][0], {'external_id': partners[0].id, 'name': 'Page 0'})
        self.assertEqual([req['record_ids'] for req in result['requests']],
                         [partners[:2].ids, partners[2:4].ids, partners[4:].ids])
        logs = self.logs(config)
        self.assertEqual(len(logs), 3)
        self.assertEqual(logs[0].res_ids, ','.join(map(str, partners[:2].ids)))

    def test_paginated_single_record_is_still_an_array(self):
        partner = self.env['res.partner'].create({'name': 'Solo'})
        config = self.make_config(lines=[('name', 'name')], is_paginated=True, page_size=2)
        config._make_outbound_http_request(partner, config.id)
        self.assertEqual(self.api.received[0].json, [{'name': 'Solo'}])

    def test_not_paginated_one_request_per_record(self):
        partners = self.env['res.partner'].create([{'name': f'One {i}'} for i in range(3)])
        config = self.make_config(lines=[('name', 'name')])
        result = config._make_outbound_http_request(partners, config.id)
        self.assertEqual([r.json for r in self.api.received], [{'name': 'One 0'}, {'name': 'One 1'}, {'name': 'One 2'}])
        self.assertEqual(len(result['requests']), 3)
        self.assertEqual(len(result['log_ids']), 3)

    def test_result_dict(self):
        partners = self.env['res.partner'].create([{'name': 'R1'}, {'name': 'R2'}])
        config = self.make_config(lines=[('name', 'name')])
        self.api.reply(Reply(201, {'id': 7}), Reply(400, {'error': 'bad name'}))
        result = config._make_outbound_http_request(partners, config.id)
        self.assertLessEqual({'success', 'status_code', 'response', 'log_ids', 'errors', 'requests'}, set(result))
        self.assertFalse(result['success'])
        self.assertEqual(result['status_code'], 400)
        self.assertEqual(result['response'], {'error': 'bad name'})
        self.assertEqual(len(result['errors']), 1)
        self.assertIn('400', result['errors'][0])
        self.assertEqual(result['log_ids'], self.logs(config).ids)
        first, second = result['requests']
        self.assertEqual((first['success'], first['status_code'], first['response']), (True, 201, {'id': 7}))
        self.assertEqual(first['record_ids'], partners[0].ids)
        self.assertEqual((second['success'], second['status_code']), (False, 400))
        self.assertEqual(second['record_ids'], partners[1].ids)
        self.assertEqual(self.env['bj.api.log'].browse(second['log_id']).status, 'error')

        self.api.reply(Reply(200, {'id': 1}), Reply(200, {'id': 2}))
        result = config._make_outbound_http_request(partners, config.id)
        self.assertTrue(result['success'])
        self.assertEqual(result['errors'], [])
        self.assertEqual(result['response'], {'id': 2})
