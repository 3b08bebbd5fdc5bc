"""The user guide's configurations, run as written (README: "Every configuration and code
example in it must work on this addon as written").

Hosts point at the local FakeApi; the guide's URL paths are kept.
"""
import base64

from odoo.tests import tagged

from .common import BjApiCase, Reply

# Крок 6: the mapping table. (Odoo field, external API key, value type)
GUIDE_MAPPING = (
    ('name', 'full_name', 'plain'),
    ('email', 'email_address', 'plain'),
    ('phone', 'contact_number', 'plain'),
    ('id', 'external_id', 'plain'),
    ('partner_id.name', 'company_name', 'relational'),
)
# Крок 7: the headers tab.
GUIDE_HEADERS = [
    ('Content-Type', 'application/json'),
    ('X-API-Version', '2.0'),
    ('X-Client-Id', 'odoo-integration'),
]


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestGuideExamples(BjApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env['res.partner'].create({'name': 'ACME Corp', 'is_company': True})

    def _guide_config(self, name, model, method, path, domain, mapping=GUIDE_MAPPING, **values):
        """A config filled in as the guide's steps 1-7 describe."""
        lines = []
        for sequence, (field_path, api_key, value_type) in enumerate(mapping):
            lines.append((0, 0, {
                'sequence': sequence, 'field_path': field_path, 'api_key': api_key, 'value_type': value_type}))
        return self.env['bj.api.sync.config'].create({
            'name': name,
            'request_type': 'out',                                  # Крок 1
            'model_id': self.env['ir.model']._get(model).id,        # Крок 5
            'url': self.api.url(path),                              # Крок 2
            'http_method_ids': [(6, 0, method.ids)],
            'connection_timeout': 10,                               # Крок 3
            'read_timeout': 30,
            'domain': domain,                                       # Крок 5
            'line_ids': lines,                                      # Крок 6
            'header_ids': [(0, 0, {'key': key, 'value': value}) for key, value in GUIDE_HEADERS],  # Крок 7
            **values,
        })

    def test_examples_save_with_the_guides_urls(self):
        # As typed in the guide (nothing is sent here: tests only talk to the local fake API).
        Config = self.env['bj.api.sync.config']
        examples = [
            ('Синхронізація клієнтів з CRM', 'res.partner', self.method_post,
             'https://crm.example.com/api/customers', "[('customer_rank', '>', 0)]"),
            ('Оновлення інвентаря', 'product.product', self.method_put,
             'https://inventory.system.com/api/products', "[('type', '=', 'product')]"),
            # sale.order is not installed in the test database: same domain on account.move.
            ('Видалення скасованих замовлень', 'account.move', self.method_delete,
             'https://orders.api.com/remove', "[('state', '=', 'cancel')]"),
            ('Step 2', 'res.partner', self.method_post, 'https://api.example.com/partners', '[]'),
        ]
        if 'customer_rank' not in self.env['res.partner']._fields:
            examples = examples[1:]
        for name, model, method, url, domain in examples:
            if model not in self.env:
                continue
            with self.subTest(name=name):
                config = Config.create({
                    'name': name, 'request_type': 'out', 'model_id': self.env['ir.model']._get(model).id,
                    'http_method_ids': [(6, 0, method.ids)], 'url': url, 'domain': domain})
                self.assertEqual((config.model_name, config.http_method_ids.name, config.url),
                                 (model, method.name, url))

    def _assert_guide_headers(self, received):
        for key, value in GUIDE_HEADERS:
            self.assertEqual(received.headers[key], value)

    def _partner_mapping(self):
        # The guide's table is generic: res.partner has no partner_id, its company is parent_id.
        return [row if row[0] != 'partner_id.name' else ('parent_id.name', row[1], row[2]) for row in GUIDE_MAPPING]

    def _require_customer_rank(self):
        if 'customer_rank' not in self.env['res.partner']._fields:
            self.skipTest("customer_rank comes from the account module, not installed here")

    # Приклад 1: Надсилання нових клієнтів до CRM
    def test_example_1_customers_to_crm(self):
        self._require_customer_rank()
        config = self._guide_config(
            'Синхронізація клієнтів з CRM', 'res.partner', self.method_post, '/api/customers',
            "[('customer_rank', '>', 0)]", mapping=self._partner_mapping(),
            auth_type='basic', auth_login='api_user', auth_password='secure_password')   # Крок 4
        Partner = self.env['res.partner']
        customer = Partner.create({
            'name': 'Олена Коваль', 'email': 'olena@example.com', 'phone': '+380 44 123 4567',
            'parent_id': self.company.id, 'customer_rank': 1})
        prospect = Partner.create({'name': 'Not a customer', 'email': 'nc@example.com'})
        self.assertEqual(prospect.customer_rank, 0)
        result = config._make_outbound_http_request(customer | prospect, config.id, timeout=60)
        self.assertTrue(result['success'], result)
        [received] = self.api.received
        self.assertEqual((received.method, received.path), ('POST', '/api/customers'))
        self._assert_guide_headers(received)
        self.assertEqual(received.headers['Authorization'],
                         'Basic ' + base64.b64encode(b'api_user:secure_password').decode())
        self.assertEqual(received.json, {
            'full_name': 'Олена Коваль', 'email_address': 'olena@example.com',
            'contact_number': '+380 44 123 4567', 'external_id': customer.id, 'company_name': 'ACME Corp'})
        self.assertEqual(result['skipped_ids'], [prospect.id])
        logs = self.logs(config)
        self.assertEqual(sorted(logs.mapped('status')), ['skipped', 'success'])
        self.assertEqual(logs.filtered(lambda log: log.status == 'skipped').res_ids, str(prospect.id))

    def test_example_1_customer_from_invoice_rank(self):
        # A partner becomes a customer the way Odoo does it (customer_rank incremented).
        self._require_customer_rank()
        config = self._guide_config(
            'Синхронізація клієнтів з CRM', 'res.partner', self.method_post, '/api/customers',
            "[('customer_rank', '>', 0)]", mapping=self._partner_mapping())
        partner = self.env['res.partner'].create({'name': 'Later customer'})
        config._make_outbound_http_request(partner, config.id)
        self.assertFalse(self.api.received)
        partner._increase_rank('customer_rank')
        config._make_outbound_http_request(partner, config.id)
        self.assertEqual([r.json['external_id'] for r in self.api.received], [partner.id])

    def test_step_5_active_customers_domain(self):
        self._require_customer_rank()
        config = self._guide_config(
            'Active customers', 'res.partner', self.method_post, '/api/customers',
            "[('active', '=', True), ('customer_rank', '>', 0)]", mapping=self._partner_mapping())
        Partner = self.env['res.partner']
        active = Partner.create({'name': 'Active customer', 'customer_rank': 2})
        archived = Partner.create({'name': 'Archived customer', 'customer_rank': 2, 'active': False})
        prospect = Partner.create({'name': 'Prospect'})
        result = config._make_outbound_http_request(active | archived | prospect, config.id)
        self.assertEqual([r.json['external_id'] for r in self.api.received], [active.id])
        self.assertEqual(sorted(result['skipped_ids']), sorted((archived | prospect).ids))

    def test_step_5_last_seven_days_domain(self):
        config = self._guide_config(
            'Last 7 days', 'res.partner', self.method_post, '/api/customers',
            "[('create_date', '>=', (datetime.now() - timedelta(days=7)).strftime('%Y-%m-%d'))]",
            mapping=self._partner_mapping())
        recent, old = self.env['res.partner'].create([{'name': 'Recent'}, {'name': 'Old'}])
        self.env.flush_all()
        # Nine days back: 19.0 reads the date string as midnight in the user's time zone, 18.0 in UTC, so
        # a record eight days old can match "the last 7 days" for an hour or more a day (docs/reference.md).
        self.env.cr.execute(
            "UPDATE res_partner SET create_date = (now() at time zone 'UTC') - interval '9 days' WHERE id = %s",
            [old.id])
        old.invalidate_recordset(['create_date'])
        result = config._make_outbound_http_request(recent | old, config.id)
        self.assertEqual([r.json['external_id'] for r in self.api.received], [recent.id])
        self.assertEqual(result['skipped_ids'], [old.id])

    def test_step_3_timeouts_and_override(self):
        config = self._guide_config('Timeouts', 'res.partner', self.method_post, '/api/customers', '[]',
                                    mapping=self._partner_mapping())
        partner = self.env['res.partner'].create({'name': 'T'})
        with self.sent_timeouts() as seen:
            config._make_outbound_http_request(partner, config.id)
            config._make_outbound_http_request(partner, config.id, timeout=60)
        self.assertEqual(seen, [(10, 30), (10, 60)])

    # Приклад 2: Оновлення інвентаря продуктів
    def _products(self):
        return self.env['product.product'].create([
            {'name': 'Office Desk', 'type': 'consu', 'default_code': 'DESK-1', 'list_price': 250.5},
            {'name': 'Consulting', 'type': 'service', 'default_code': 'SRV-1', 'list_price': 80},
        ])

    PRODUCT_MAPPING = [
        ('id', 'external_id', 'plain'),
        ('name', 'name', 'plain'),
        ('default_code', 'sku', 'plain'),
        ('list_price', 'price', 'plain'),
    ]

    def test_example_2_inventory_update_as_written(self):
        # Odoo 18 has no 'product' (storable) type any more: the domain is valid and selects
        # nothing, so the records are skipped and logged, nothing is sent.
        config = self._guide_config(
            'Оновлення інвентаря', 'product.product', self.method_put, '/api/products',
            "[('type', '=', 'product')]", mapping=self.PRODUCT_MAPPING,
            auth_type='bearer', bearer_token='sk_live_abc123xyz789')
        products = self._products()
        result = config._make_outbound_http_request(products, config.id, timeout=60)
        self.assertTrue(result['success'], result)
        self.assertFalse(self.api.received)
        self.assertEqual(sorted(result['skipped_ids']), sorted(products.ids))
        [log] = self.logs(config)
        self.assertEqual((log.status, log.http_method, log.res_model), ('skipped', 'PUT', 'product.product'))

    def test_example_2_goods_products(self):
        config = self._guide_config(
            'Оновлення інвентаря', 'product.product', self.method_put, '/api/products',
            "[('type', '=', 'consu')]", mapping=self.PRODUCT_MAPPING,
            auth_type='bearer', bearer_token='sk_live_abc123xyz789')
        desk, service = self._products()
        result = config._make_outbound_http_request(desk | service, config.id)
        self.assertTrue(result['success'], result)
        [received] = self.api.received
        self.assertEqual((received.method, received.path), ('PUT', '/api/products'))
        self.assertEqual(received.headers['Authorization'], 'Bearer sk_live_abc123xyz789')
        self._assert_guide_headers(received)
        self.assertEqual(received.json, {'external_id': desk.id, 'name': 'Office Desk', 'sku': 'DESK-1', 'price': 250.5})
        self.assertEqual(result['skipped_ids'], [service.id])

    # Приклад 3: Видалення скасованих замовлень
    def test_example_3_delete_cancelled(self):
        # sale.order (the guide's model) is not installed in the test database; account.move has
        # the same 'cancel' state and a partner_id, so the guide's domain and mapping apply as written.
        if 'account.move' not in self.env:
            self.skipTest("account is not installed")
        config = self._guide_config(
            'Видалення скасованих замовлень', 'account.move', self.method_delete, '/remove',
            "[('state', '=', 'cancel')]", mapping=[
                ('id', 'external_id', 'plain'),
                ('name', 'name', 'plain'),
                ('partner_id.name', 'company_name', 'relational'),
            ])
        Move = self.env['account.move']
        cancelled = Move.create({'move_type': 'entry', 'partner_id': self.company.id, 'ref': 'to cancel'})
        draft = Move.create({'move_type': 'entry', 'ref': 'still draft'})
        cancelled.button_cancel()
        self.assertEqual(cancelled.state, 'cancel')
        result = config._make_outbound_http_request(cancelled | draft, config.id, timeout=60)
        self.assertTrue(result['success'], result)
        [received] = self.api.received
        self.assertEqual((received.method, received.path), ('DELETE', '/remove'))
        self._assert_guide_headers(received)
        self.assertEqual(received.json, {
            'external_id': cancelled.id, 'name': cancelled.name or None, 'company_name': 'ACME Corp'})
        self.assertEqual(result['skipped_ids'], [draft.id])

    # Пакетна обробка: Is Paginated ✓, Page Size: 100
    def test_batch_settings(self):
        self._require_customer_rank()
        config = self._guide_config(
            'Синхронізація клієнтів з CRM', 'res.partner', self.method_post, '/api/customers',
            "[('customer_rank', '>', 0)]", mapping=self._partner_mapping(), is_paginated=True, page_size=100)
        customers = self.env['res.partner'].create([{'name': f'Customer {i:03d}', 'customer_rank': 1} for i in range(150)])
        result = config._make_outbound_http_request(customers, config.id)
        self.assertTrue(result['success'], result)
        self.assertEqual([len(r.json) for r in self.api.received], [100, 50])
        self.assertEqual([item['external_id'] for r in self.api.received for item in r.json], customers.ids)
        self.assertEqual(len(self.logs(config)), 2)

    def test_page_size_default_is_100(self):
        config = self._guide_config('Defaults', 'res.partner', self.method_post, '/api/customers', '[]',
                                    mapping=self._partner_mapping(), connection_timeout=5, read_timeout=15)
        self.assertEqual(config.page_size, 100)
        fresh = self.env['bj.api.sync.config'].create({
            'name': 'Fresh', 'model_id': self.partner_model.id, 'url': 'https://api.example.com/partners'})
        self.assertEqual((fresh.connection_timeout, fresh.read_timeout, fresh.page_size), (5, 15, 100))
        self.assertEqual(fresh.http_method_ids, self.method_post)

    # Крок 8: Ручне виконання, from a server action
    def _server_action(self, code):
        return self.env['ir.actions.server'].create({
            'name': 'Sync partner to CRM',
            'model_id': self.partner_model.id,
            'state': 'code',
            'code': code,
        })

    def _run_on(self, action, partner):
        return action.with_context(
            active_model='res.partner', active_id=partner.id, active_ids=partner.ids).run()

    def test_step_8_server_action(self):
        config = self._guide_config(
            'Синхронізація клієнтів з CRM', 'res.partner', self.method_post, '/api/customers', '[]',
            mapping=self._partner_mapping())
        self.env['ir.model.data'].create({
            'module': '__test__', 'name': 'api_config_xml_id', 'model': 'bj.api.sync.config', 'res_id': config.id})
        # The guide writes self.env[...] and a placeholder xml id; in an action the names are env and record.
        action = self._server_action(
            "partner_id = env.context.get('active_id')\n"
            "record = env['res.partner'].browse(partner_id)\n"
            "config = env.ref('__test__.api_config_xml_id')\n"
            "config._make_outbound_http_request(record, config.id, timeout=60)\n")
        partner = self.env['res.partner'].create({'name': 'From action', 'parent_id': self.company.id})
        self._run_on(action, partner)
        [received] = self.api.received
        self.assertEqual(received.json['external_id'], partner.id)
        self.assertEqual(received.json['company_name'], 'ACME Corp')
        self.assertEqual(self.logs(config).mapped('status'), ['success'])

    def test_step_8_server_action_with_record(self):
        config = self._guide_config(
            'Синхронізація клієнтів з CRM', 'res.partner', self.method_post, '/api/customers', '[]',
            mapping=self._partner_mapping())
        self.env['ir.model.data'].create({
            'module': '__test__', 'name': 'api_config_xml_id', 'model': 'bj.api.sync.config', 'res_id': config.id})
        action = self._server_action(
            "config = env.ref('__test__.api_config_xml_id')\n"
            "config._make_outbound_http_request(record, config.id, timeout=60)\n")
        partners = self.env['res.partner'].create([{'name': 'A'}, {'name': 'B'}])
        for partner in partners:
            self._run_on(action, partner)
        self.assertEqual([r.json['external_id'] for r in self.api.received], partners.ids)

    def test_step_8_server_action_failure_does_not_raise(self):
        # Graceful degradation: an API error is logged, the action (and the user's operation) goes on.
        config = self._guide_config(
            'Синхронізація клієнтів з CRM', 'res.partner', self.method_post, '/api/customers', '[]',
            mapping=self._partner_mapping(), max_retries=0)
        self.env['ir.model.data'].create({
            'module': '__test__', 'name': 'api_config_xml_id', 'model': 'bj.api.sync.config', 'res_id': config.id})
        self.api.default = Reply(500, {'error': 'down'})
        action = self._server_action(
            "config = env.ref('__test__.api_config_xml_id')\n"
            "result = config._make_outbound_http_request(record, config.id, timeout=60)\n"
            "record.write({'comment': 'sync failed' if not result['success'] else 'synced'})\n")
        partner = self.env['res.partner'].create({'name': 'Down'})
        self._run_on(action, partner)
        self.assertIn('sync failed', str(partner.comment))
        self.assertEqual(self.logs(config).mapped('status'), ['error'])
