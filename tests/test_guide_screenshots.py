"""The user guide's pictures (docs/guide.md, docs/guide.uk.md), taken by a tour in a real browser.

The tour (static/tests/tours/bj_api_sync_guide_tour.js) walks the guide's path over the records made
here and logs ``bj-screenshot:<name>`` where the guide has a picture; the browser then captures the
page and lets the tour go on. Every run proves that the guide's steps still work and that each
picture can be taken. With BJ_SCREENSHOTS set to a folder (relative to the addon, e.g. docs/img, as
scripts/screenshots does), the pictures are written to <folder>/en/<name>.png and <folder>/uk/<name>.png.

The guide's hosts (``*.example.com``) are answered by a local API, so the pictures show the guide's
URLs while nothing leaves the machine.
"""
import base64
import contextlib
import io
import json
import os
import re
from unittest.mock import patch
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from PIL import Image

import odoo.tests.common
from odoo.fields import Command
from odoo.tests import HttpCase, tagged

from .common import FakeApi, LoopbackOnly, Reply

SCREENSHOT_MARKER = 'bj-screenshot:'
SCREENSHOTS = (
    'config_list', 'menu',
    'example1_general', 'example1_mapping', 'example1_headers', 'example1_auth', 'example1_advanced',
    'example1_domain', 'preview', 'send_test_log',
    'example2_general', 'example2_script', 'example2_advanced', 'example3_general',
    'trigger_automation', 'trigger_cron',
    'manual_rule', 'manual_rule_code', 'manual_server_action', 'manual_cron',
    'crm_remote_tab', 'crm_companions', 'crm_remote_ids', 'deliveries',
    'inbound_form', 'inbound_mapping', 'logs_list', 'logs_graph',
)
ADDON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The domain the guide changes example 1's to (a contact made in Contacts has customer_rank 0).
NEW_DOMAIN = '[("email", "!=", False)]'

NAMES = {
    'en_US': {
        'example1': 'Customers to CRM', 'example2': 'Inventory update', 'example3': 'Remove cancelled orders',
        'crm': 'CRM contacts', 'endpoint': 'Partners endpoint', 'countries': 'Countries (sub-mapping)',
        'rule': 'Send customers to the CRM',
        'server_action': 'Send to the CRM now', 'cron': 'Hourly partner sync',
        'company': 'ACME Corp', 'customer': 'Olena Koval',
        'contacts': ('Taras Melnyk', 'Iryna Bondar', 'Maksym Lysenko'),
        'newcomers': ('Oksana Shevchenko', 'Petro Kravets'),
    },
    'uk_UA': {
        'example1': 'Синхронізація клієнтів з CRM', 'example2': 'Оновлення інвентаря',
        'example3': 'Видалення скасованих замовлень',
        'crm': 'Контакти CRM', 'endpoint': 'Партнери (вхідна точка)', 'countries': 'Країни (вкладене зіставлення)',
        'rule': 'Надсилати клієнтів до CRM',
        'server_action': 'Надіслати до CRM зараз', 'cron': 'Щогодинна синхронізація партнерів',
        'company': 'ТОВ «Акме»', 'customer': 'Олена Коваль',
        'contacts': ('Тарас Мельник', 'Ірина Бондар', 'Максим Лисенко'),
        'newcomers': ('Оксана Шевченко', 'Петро Кравець'),
    },
}

RULE_CODE = """config = env['bj.api.sync.config'].search([('name', '=', %r)], limit=1)
config._make_outbound_http_request(record, config.id, timeout=60)
"""
SERVER_ACTION_CODE = """config = env['bj.api.sync.config'].search([('name', '=', %r)], limit=1)
config._make_outbound_http_request(records, config.id)
"""
CRON_CODE = """partners = env['res.partner'].search([
    ('write_date', '>=', datetime.now() - timedelta(hours=1)),
])
config = env['bj.api.sync.config'].search([('name', '=', %r)], limit=1)
config._make_outbound_http_request(partners, config.id)
"""
PAYLOAD_SCRIPT = """from datetime import datetime
result = {
    'data': request_data,
    'timestamp': datetime.now().isoformat(),
    'source': 'odoo'
}"""


class GuideBrowser(odoo.tests.common.ChromeBrowser):
    """Odoo's test browser, which also captures the page when the tour asks for it, then tells the tour."""

    def _handle_console(self, type, args=None, stackTrace=None, **kw):  # pylint: disable=redefined-builtin
        text = args[0].get('value') if type == 'log' and args else None
        if isinstance(text, str) and text.startswith(SCREENSHOT_MARKER):
            self._capture(text[len(SCREENSHOT_MARKER):])
        return super()._handle_console(type, args=args, stackTrace=stackTrace, **kw)

    def _capture(self, name):
        # Called by the thread reading the browser's events: it must not wait for the answer.
        def captured(future):
            try:
                self.test_case.screenshots[name] = base64.b64decode(future.result()['data'])
            finally:
                self._websocket_send('Runtime.evaluate', params={
                    'expression': f'window.bjScreenshotTaken = {json.dumps(name)}'})

        future = self._websocket_send('Page.captureScreenshot', params={'format': 'png'}, with_future=True)
        future.add_done_callback(captured)


@tagged('post_install', '-at_install', 'bj_api_sync', 'bj_api_sync_screenshots')
class TestGuideScreenshots(LoopbackOnly, HttpCase):
    """The guide's path, once in English and once in Ukrainian, over the records the guide shows."""
    browser_size = '1280x800'

    @classmethod
    def _request_handler(cls, session, request, /, **kwargs):
        """The guide's hosts are answered by the local API; the rest is the addon's loopback-only guard."""
        parts = urlsplit(request.url)
        if parts.hostname and parts.hostname.endswith('.example.com'):
            request = request.copy()  # the log keeps the URL the addon asked for
            request.url = urlunsplit(('http', f'127.0.0.1:{cls.api.server.server_port}', parts.path, parts.query, ''))
        return super()._request_handler(session, request, **kwargs)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = FakeApi().start()
        cls.addClassCleanup(cls.api.stop)

    def setUp(self):
        super().setUp()
        if 'customer_rank' not in self.env['res.partner']._fields or 'product.product' not in self.env:
            self.skipTest("the guide's examples need the account module (customer_rank, products)")
        self.api.reset()
        self.screenshots = {}
        params = self.env['ir.config_parameter'].sudo()
        params.set_param('bj_api_sync.backoff_base_seconds', '0.01')
        params.set_param('bj_api_sync.backoff_max_seconds', '0.05')

    def test_guides_show_every_picture(self):
        for guide, folder in (('guide.md', 'en'), ('guide.uk.md', 'uk')):
            with open(os.path.join(ADDON_DIR, 'docs', guide), encoding='utf-8') as text:
                shown = re.findall(r'\]\(img/(\w+)/(\w+)\.png\)', text.read())
            self.assertEqual({lang for lang, _name in shown}, {folder}, guide)
            self.assertEqual(sorted({name for _lang, name in shown}), sorted(SCREENSHOTS),
                             f"docs/{guide} shows exactly the pictures the tour takes")

    def test_guide_in_english(self):
        self.run_guide('en_US', 'en')

    def test_guide_in_ukrainian(self):
        self.env['res.lang']._activate_lang('uk_UA')
        installed = self.env['ir.module.module'].search([('state', '=', 'installed')])
        installed._load_module_terms(installed.mapped('name'), ['uk_UA'], overwrite=True)
        self.env.ref('base.user_admin').lang = 'uk_UA'
        self.run_guide('uk_UA', 'uk')

    def run_guide(self, lang, folder):
        names = NAMES[lang]
        data = self.stage(names)
        self.api.default = Reply(201, {'id': 'c-1042'})
        sent_before = len(self.api.received)
        with patch.object(odoo.tests.common, 'ChromeBrowser', GuideBrowser):
            self.start_tour('/odoo?debug=1', 'bj_api_sync_guide_tour', login='admin', timeout=180,
                            cookies={'bj_guide': quote(json.dumps(data), safe='')})

        self.assertEqual(sorted(self.screenshots), sorted(SCREENSHOTS), "every picture of the guide was taken")
        # The tour's Send Test sent the sample customer; the domain change was discarded.
        [received] = self.api.received[sent_before:]
        self.assertEqual((received.method, received.path), ('POST', '/api/customers'))
        self.assertEqual(received.json['full_name'], names['customer'])
        example1 = self.env['bj.api.sync.config'].browse(data['ids']['example1'])
        self.assertEqual(example1.domain, "[('customer_rank', '>', 0)]")
        # Create Update and Delete made the CRM configuration's companions.
        crm = self.env['bj.api.sync.config'].browse(data['ids']['crm'])
        companions = self.env['bj.api.sync.config'].search([('fallback_config_id', '=', crm.id)])
        self.assertEqual(companions.http_method_ids.mapped('name'), ['PUT'])

        target = os.environ.get('BJ_SCREENSHOTS')
        if target:
            self.write_screenshots(os.path.join(ADDON_DIR, target, folder))

    def write_screenshots(self, folder):
        """256-colour PNGs: a third of the size, and the interface's flat colours stay exact."""
        os.makedirs(folder, exist_ok=True)
        for name, png in self.screenshots.items():
            image = Image.open(io.BytesIO(png)).convert('RGB').quantize(colors=256, dither=Image.Dither.NONE)
            image.save(os.path.join(folder, f'{name}.png'), optimize=True)

    # The records the guide shows

    def stage(self, names):
        env = self.env
        Config = env['bj.api.sync.config']
        Partner = env['res.partner']
        model = env['ir.model']._get
        method = {name: env.ref(f'bj_api_sync.http_method_{name.lower()}') for name in ('GET', 'POST', 'PUT', 'DELETE')}

        company = Partner.create({'name': names['company'], 'is_company': True, 'email': 'info@acme.example.com'})
        Partner.create({  # the preview's sample
            'name': names['customer'], 'email': 'olena@example.com', 'phone': '+380 44 123 4567',
            'parent_id': company.id, 'customer_rank': 1})
        contacts = Partner.create([
            {'name': name, 'email': f'contact{number}@example.com', 'phone': f'+380 67 000 00{number}{number}',
             'customer_rank': 1}
            for number, name in enumerate(names['contacts'], start=1)])

        def mapping(*lines):
            return [Command.create({'sequence': 10 * number, **line}) for number, line in enumerate(lines, start=1)]

        # Example 1: new customers to a CRM
        example1 = Config.create({
            'name': names['example1'], 'request_type': 'out', 'model_id': model('res.partner').id,
            'domain': "[('customer_rank', '>', 0)]",
            'url': 'https://crm.example.com/api/customers', 'http_method_ids': [Command.set(method['POST'].ids)],
            'connection_timeout': 10, 'read_timeout': 30,
            'auth_type': 'basic', 'auth_login': 'api_user', 'auth_password': 'secure_password',
            'line_ids': mapping(
                {'field_path': 'name', 'api_key': 'full_name'},
                {'field_path': 'email', 'api_key': 'email_address'},
                {'field_path': 'phone', 'api_key': 'contact_number'},
                {'field_path': 'id', 'api_key': 'external_id', 'is_identifier': True},
                {'field_path': 'parent_id.name', 'api_key': 'company_name', 'value_type': 'relational'}),
            'header_ids': [Command.create({'sequence': number, 'key': key, 'value': value}) for number, (key, value)
                           in enumerate([('Content-Type', 'application/json'), ('X-API-Version', '2.0'),
                                         ('X-Client-Id', 'odoo-integration')])],
        })
        # Example 2: the stock of products, by pages, wrapped by a payload script
        example2 = Config.create({
            'name': names['example2'], 'request_type': 'out', 'model_id': model('product.product').id,
            'domain': "[('type', '=', 'consu')]",
            'url': 'https://inventory.example.com/api/products', 'http_method_ids': [Command.set(method['PUT'].ids)],
            'auth_type': 'bearer', 'bearer_token': 'sk_live_abc123xyz789',
            'is_paginated': True, 'page_size': 100, 'python_script': PAYLOAD_SCRIPT,
            'line_ids': mapping(
                {'field_path': 'id', 'api_key': 'external_id', 'is_identifier': True},
                {'field_path': 'default_code', 'api_key': 'sku'},
                {'field_path': 'name', 'api_key': 'name'},
                {'field_path': 'list_price', 'api_key': 'price'},
                {'api_key': 'price_with_vat', 'value_type': 'python',
                 'python_code': 'round(record.list_price * 1.2, 2)'}),
        })
        # Example 3: a cancelled order is deleted from the other system (Sales; invoices without it)
        order_model = 'sale.order' if 'sale.order' in env else 'account.move'
        example3 = Config.create({
            'name': names['example3'], 'request_type': 'out', 'model_id': model(order_model).id,
            'domain': "[('state', '=', 'cancel')]",
            'url': 'https://orders.example.com/api/orders/{external_id}',
            'http_method_ids': [Command.set(method['DELETE'].ids)],
            'line_ids': mapping(
                {'field_path': 'id', 'api_key': 'external_id', 'is_identifier': True},
                {'field_path': 'name', 'api_key': 'name'}),
        })
        example3.write({'sync_on_update': True, 'sync_field_ids': [Command.set(
            env['ir.model.fields']._get(order_model, 'state').ids)]})

        # Keeping a CRM in sync: the create configuration, which keeps the ids the CRM gives
        crm = Config.create({
            'name': names['crm'], 'request_type': 'out', 'model_id': model('res.partner').id,
            'domain': "[('email', '!=', False)]",
            'url': 'https://crm.example.com/contacts', 'http_method_ids': [Command.set(method['POST'].ids)],
            'auth_type': 'bearer', 'bearer_token': 'crm-token-0123456789',
            'remote_id_scope': 'crm.contacts', 'remote_id_path': 'id',
            'response_line_ids': [Command.create({
                'response_path': 'id', 'field_id': env['ir.model.fields']._get('res.partner', 'ref').id})],
            'line_ids': mapping(
                {'field_path': 'name', 'api_key': 'name'},
                {'field_path': 'email', 'api_key': 'email'},
                {'field_path': 'phone', 'api_key': 'phone'}),
        })

        # Some history for the logs: a week of example 1, the CRM's ids, a retried page, a refused record,
        # queued deliveries.
        self.stage_history(example1, contacts)
        self.api.reply(*(Reply(201, {'id': str(81 + number)}) for number in range(len(contacts))))
        crm._make_outbound_http_request(contacts, crm.id)
        self.api.reply(Reply(503, {'error': 'busy'}), Reply(200, {'updated': 3}))
        example2._make_outbound_http_request(env['product.product'].search([('type', '=', 'consu')], limit=3))
        self.api.reply(Reply(422, {'error': 'company_name is required'}))
        example1._make_outbound_http_request(contacts[0])
        example1._make_outbound_http_request(contacts[1:] | company, queued=True)
        newcomers = Partner.create([{'name': name, 'email': f'new{number}@example.com'}
                                    for number, name in enumerate(names['newcomers'])])
        crm._make_outbound_http_request(newcomers, crm.id, queued=True)

        endpoint = self.stage_endpoint(names, method)

        # Triggers written by hand
        rule = env['base.automation'].create({
            'name': names['rule'], 'model_id': model('res.partner').id, 'trigger': 'on_create_or_write',
            'action_server_ids': [Command.create({
                'name': names['rule'], 'model_id': model('res.partner').id,
                'state': 'code', 'code': RULE_CODE % names['example1']})],
        })
        server_action = env['ir.actions.server'].create({
            'name': names['server_action'], 'model_id': model('res.partner').id,
            'binding_model_id': model('res.partner').id,
            'state': 'code', 'code': SERVER_ACTION_CODE % names['example1']})
        cron = env['ir.cron'].create({
            'name': names['cron'], 'model_id': model('bj.api.sync.config').id, 'state': 'code',
            'code': CRON_CODE % names['example1'], 'interval_number': 1, 'interval_type': 'hours'})

        env.flush_all()
        return {
            'sample': names['customer'],
            'newDomain': NEW_DOMAIN,
            'ids': {
                'example1': example1.id, 'example2': example2.id, 'example3': example3.id, 'crm': crm.id,
                'endpoint': endpoint.id, 'rule': rule.id, 'ruleAction': rule.action_server_ids.id,
                'serverAction': server_action.id, 'cron': cron.id,
            },
        }

    def stage_history(self, config, records):
        """A week of sends, one call a day, with a retried and a refused request."""
        ok, busy, refused = Reply(201, {'id': 'c-1'}), Reply(503, {'error': 'busy'}), Reply(422, {'error': 'bad phone'})
        week = {6: [ok] * 3, 5: [ok, busy, ok, ok], 4: [ok] * 3, 3: [refused, ok, ok], 2: [ok] * 3, 1: [ok] * 3}
        for days_ago, replies in week.items():
            self.api.reply(*replies)
            result = config._make_outbound_http_request(records, config.id)
            self.env.flush_all()
            self.env.cr.execute(
                "UPDATE bj_api_log SET create_date = create_date - make_interval(days => %s) WHERE id IN %s",
                [days_ago, tuple(result['log_ids'])])
        self.env.invalidate_all()

    def stage_endpoint(self, names, method):
        """The inbound endpoint of the guide, called twice as an external system would."""
        env = self.env
        Config = env['bj.api.sync.config']
        countries = Config.create({
            'name': names['countries'], 'request_type': 'mapping', 'model_id': env['ir.model']._get('res.country').id,
            'line_ids': [Command.create({'sequence': 10, 'api_key': 'code', 'field_path': 'code', 'is_identifier': True}),
                         Command.create({'sequence': 20, 'api_key': 'name', 'field_path': 'name'})],
        })
        endpoint = Config.create({
            'name': names['endpoint'], 'request_type': 'in', 'endpoint': 'partners',
            'model_id': env['ir.model']._get('res.partner').id, 'inbound_user_id': env.ref('base.user_admin').id,
            'http_method_ids': [Command.set((method['GET'] | method['POST'] | method['PUT'] | method['DELETE']).ids)],
            'auth_type': 'basic', 'auth_login': 'crm', 'auth_password': 'secret',
            'line_ids': [Command.create(line) for line in [
                {'sequence': 10, 'api_key': 'ref', 'field_path': 'ref', 'is_identifier': True},
                {'sequence': 20, 'api_key': 'name', 'field_path': 'name'},
                {'sequence': 30, 'api_key': 'email', 'field_path': 'email'},
                {'sequence': 40, 'api_key': 'address.city', 'field_path': 'city'},
                {'sequence': 50, 'api_key': 'country', 'field_path': 'country_id', 'value_type': 'relational',
                 'mapping_config_id': countries.id}]],
        })
        body = {'ref': 'C-1001', 'name': 'Olena Petrenko', 'address': {'city': 'Lviv'}, 'country': 'UA'}
        self.assertEqual(self.call_endpoint('POST', '', json=body).status_code, 201)
        self.assertEqual(self.call_endpoint('GET', '/C-1001').status_code, 200)
        # The inbound URL and curl examples of the guide's pictures.
        env['ir.config_parameter'].sudo().set_param('web.base.url', 'https://odoo.example.com')
        return endpoint

    def call_endpoint(self, method, path, **kwargs):
        """One request as an external client makes it, without an Odoo session (see tests/test_inbound.py)."""
        self.env.flush_all()
        cookie_name = getattr(odoo.tests.common, 'TEST_CURSOR_COOKIE_NAME', None)
        allow = getattr(self, 'allow_requests', None)
        with allow() if allow else contextlib.nullcontext():
            response = requests.request(
                method, f'{self.base_url()}/bj_api_sync/v1/partners{path}', auth=('crm', 'secret'), timeout=30,
                cookies={cookie_name: self.http_request_key} if cookie_name else None, **kwargs)
        self.env.invalidate_all()
        return response
