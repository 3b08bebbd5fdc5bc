"""Mapping lines → JSON payload (docs/reference.md, "Values"), checked on what the external API received."""
import base64
import datetime
import re

from odoo.tests import tagged

from .common import BjApiCase

# A 1x1 transparent PNG.
PNG = (b'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=')


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestPayload(BjApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ukraine = cls.env.ref('base.ua')
        cls.tag_vip = cls.env['res.partner.category'].create({'name': 'VIP', 'color': 3})
        cls.tag_b2b = cls.env['res.partner.category'].create({'name': 'B2B', 'color': 5})
        cls.company = cls.env['res.partner'].create({
            'name': 'ACME', 'is_company': True, 'country_id': cls.ukraine.id, 'city': 'Kyiv'})
        cls.partner = cls.env['res.partner'].create({
            'name': 'Olena', 'email': 'olena@example.com', 'parent_id': cls.company.id,
            'category_id': [(6, 0, (cls.tag_vip | cls.tag_b2b).ids)],
        })
        cls.colleague = cls.env['res.partner'].create({
            'name': 'Taras', 'email': 'taras@example.com', 'parent_id': cls.company.id})

    def sent(self, records, lines, model='res.partner', **values):
        """Send ``records`` through a new config with ``lines``; return the body the API received."""
        config = self.make_config(model=model, lines=lines, **values)
        result = config._make_outbound_http_request(records, config.id)
        self.assertTrue(result['success'], result)
        return self.api.received[-1].json

    # ------------------------------------------------------------------ plain fields

    def test_plain_scalar_fields(self):
        self.partner.write({
            'color': 7, 'partner_latitude': 50.4501, 'is_company': False, 'type': 'invoice',
            'comment': '<p>Hello <b>world</b></p>', 'phone': False, 'website': False,
        })
        body = self.sent(self.partner, [
            ('name', 'name'), ('is_company', 'is_company'), ('active', 'active'), ('color', 'color'),
            ('latitude', 'partner_latitude'), ('type', 'type'), ('comment', 'comment'),
            ('phone', 'phone'), ('website', 'website'), ('id', 'id'),
        ])
        self.assertEqual(body, {
            'name': 'Olena', 'is_company': False, 'active': True, 'color': 7, 'latitude': 50.4501,
            'type': 'invoice', 'comment': self.partner.comment, 'phone': None, 'website': None,
            'id': self.partner.id,
        })
        self.assertIn('Hello', body['comment'])
        self.assertIs(body['is_company'], False, "a false boolean stays false, not null")

    def test_zero_numbers_are_numbers(self):
        self.partner.write({'color': 0, 'partner_latitude': 0.0})
        body = self.sent(self.partner, [('color', 'color'), ('latitude', 'partner_latitude')])
        self.assertEqual(body, {'color': 0, 'latitude': 0})
        self.assertIsInstance(body['color'], int)

    def test_text_field(self):
        country = self.env['res.country'].create({
            'name': 'Testland', 'code': 'QX', 'address_format': '%(street)s\n%(city)s'})
        body = self.sent(country, [('name', 'name'), ('code', 'code'), ('format', 'address_format')],
                         model='res.country')
        self.assertEqual(body, {'name': 'Testland', 'code': 'QX', 'format': '%(street)s\n%(city)s'})

    def test_monetary_field_is_a_number(self):
        Partner = self.env['res.partner']
        monetary = [name for name, field in Partner._fields.items() if field.type == 'monetary' and field.store
                    and not field.compute]
        if not monetary:
            self.skipTest("no stored monetary field on res.partner in this database")
        name = monetary[0]
        self.partner.write({name: 1234.5})
        body = self.sent(self.partner, [('amount', name)])
        self.assertEqual(body, {'amount': 1234.5})

    def test_date_is_iso(self):
        currency = self.env.ref('base.EUR')
        rate = self.env['res.currency.rate'].create({
            'name': '2024-02-29', 'rate': 1.25, 'currency_id': currency.id, 'company_id': self.env.company.id})
        body = self.sent(rate, [('day', 'name'), ('rate', 'rate'), ('currency', 'currency_id')],
                         model='res.currency.rate')
        self.assertEqual(body, {'day': '2024-02-29', 'rate': 1.25, 'currency': currency.id})

    def test_datetime_is_iso_utc(self):
        self.partner.invalidate_recordset(['create_date'])
        created = self.partner.create_date
        self.assertIsInstance(created, datetime.datetime)
        body = self.sent(self.partner, [('created', 'create_date')])
        self.assertRegex(body['created'], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$')
        self.assertEqual(datetime.datetime.fromisoformat(body['created']),
                         created.replace(tzinfo=datetime.timezone.utc))

    def test_empty_datetime_is_null(self):
        user = self.env['res.users'].create({'name': 'Never logged', 'login': 'bj_never_logged'})
        body = self.sent(user, [('login', 'login'), ('last_login', 'login_date')], model='res.users')
        self.assertEqual(body, {'login': 'bj_never_logged', 'last_login': None})

    def test_binary_is_base64_text(self):
        self.partner.image_1920 = PNG
        body = self.sent(self.partner, [('image', 'image_1920'), ('no_image', 'parent_id.image_1920')])
        self.assertIsInstance(body['image'], str)
        self.assertEqual(body['image'], self.partner.image_1920.decode())
        self.assertTrue(base64.b64decode(body['image']).startswith(b'\x89PNG'))
        self.assertIsNone(body['no_image'])

    def test_many2one_without_sub_mapping_is_id_or_null(self):
        body = self.sent(self.partner | self.company, [
            ('name', 'name'), ('parent', 'parent_id'),
            {'api_key': 'country', 'field_path': 'country_id', 'value_type': 'relational'}])
        # Not paginated: one request per record, the last one is the company's.
        self.assertEqual(self.api.received[0].json, {
            'name': 'Olena', 'parent': self.company.id, 'country': self.ukraine.id})
        self.assertEqual(body, {'name': 'ACME', 'parent': None, 'country': self.ukraine.id})

    def test_x2many_without_sub_mapping_is_list_of_ids(self):
        body = self.sent(self.company, [
            ('children', 'child_ids'), ('tags', 'category_id'),
            {'api_key': 'rel_children', 'field_path': 'child_ids', 'value_type': 'relational'}])
        self.assertEqual(sorted(body['children']), sorted((self.partner | self.colleague).ids))
        self.assertEqual(body['tags'], [])
        self.assertEqual(body['rel_children'], body['children'])
        body = self.sent(self.partner, [('tags', 'category_id')])
        self.assertEqual(sorted(body['tags']), sorted((self.tag_vip | self.tag_b2b).ids))

    # ------------------------------------------------------------------ dotted paths

    def test_dotted_paths(self):
        body = self.sent(self.partner, [
            ('company_name', 'parent_id.name'), ('company_country', 'parent_id.country_id.code'),
            ('company_country_id', 'parent_id.country_id'), ('own_country', 'country_id.name'),
        ])
        self.assertEqual(body, {
            'company_name': 'ACME', 'company_country': 'UA', 'company_country_id': self.ukraine.id,
            'own_country': self.ukraine.name})

    def test_dotted_path_through_empty_many2one_is_null(self):
        body = self.sent(self.company, [('company_name', 'parent_id.name'),
                                        ('company_country', 'parent_id.country_id.code')])
        self.assertEqual(body, {'company_name': None, 'company_country': None})

    def test_dotted_path_through_x2many_is_a_list(self):
        body = self.sent(self.company, [('children', 'child_ids.name'), ('emails', 'child_ids.email')])
        self.assertEqual(sorted(body['children']), ['Olena', 'Taras'])
        self.assertEqual(sorted(body['emails']), ['olena@example.com', 'taras@example.com'])
        body = self.sent(self.partner, [('tag_names', 'category_id.name'),
                                        ('sibling_tags', 'parent_id.child_ids.category_id.name')])
        self.assertEqual(sorted(body['tag_names']), ['B2B', 'VIP'])
        self.assertEqual(sorted(body['sibling_tags']), ['B2B', 'VIP'])

    # ------------------------------------------------------------------ sub-mappings

    def test_many2one_sub_mapping_is_object_or_null(self):
        company_mapping = self.make_config(name='Company object', lines=[
            ('name', 'name'), ('country', 'country_id.code'), ('city', 'city')])
        lines = [
            ('name', 'name'),
            {'api_key': 'company', 'field_path': 'parent_id', 'value_type': 'relational',
             'mapping_config_id': company_mapping.id},
        ]
        body = self.sent(self.partner, lines)
        self.assertEqual(body, {'name': 'Olena', 'company': {'name': 'ACME', 'country': 'UA', 'city': 'Kyiv'}})
        body = self.sent(self.company, lines)
        self.assertEqual(body, {'name': 'ACME', 'company': None})

    def test_sub_mapping_through_a_dotted_path(self):
        country_mapping = self.make_config(model='res.country', name='Country object',
                                           lines=[('code', 'code'), ('name', 'name')])
        body = self.sent(self.partner, [
            {'api_key': 'company_country', 'field_path': 'parent_id.country_id', 'value_type': 'relational',
             'mapping_config_id': country_mapping.id}])
        self.assertEqual(body, {'company_country': {'code': 'UA', 'name': self.ukraine.name}})

    def test_x2many_sub_mapping_is_list_of_objects(self):
        contact_mapping = self.make_config(name='Contact object', lines=[('name', 'name'), ('email', 'email')])
        tag_mapping = self.make_config(model='res.partner.category', name='Tag object',
                                       lines=[('label', 'name'), ('color', 'color')])
        lines = [
            {'api_key': 'contacts', 'field_path': 'child_ids', 'value_type': 'relational',
             'mapping_config_id': contact_mapping.id},
            {'api_key': 'tags', 'field_path': 'category_id', 'value_type': 'relational',
             'mapping_config_id': tag_mapping.id},
        ]
        body = self.sent(self.company, lines)
        self.assertEqual(body['tags'], [])
        self.assertEqual(sorted(body['contacts'], key=lambda c: c['name']), [
            {'name': 'Olena', 'email': 'olena@example.com'},
            {'name': 'Taras', 'email': 'taras@example.com'},
        ])
        body = self.sent(self.partner, lines)
        self.assertEqual(body['contacts'], [])
        self.assertEqual(sorted(body['tags'], key=lambda t: t['label']), [
            {'label': 'B2B', 'color': 5}, {'label': 'VIP', 'color': 3}])

    def test_nested_sub_mappings(self):
        country_mapping = self.make_config(model='res.country', name='Country object', lines=[('code', 'code')])
        company_mapping = self.make_config(name='Company object', lines=[
            ('name', 'name'),
            {'api_key': 'country', 'field_path': 'country_id', 'value_type': 'relational',
             'mapping_config_id': country_mapping.id}])
        body = self.sent(self.partner, [
            {'api_key': 'company', 'field_path': 'parent_id', 'value_type': 'relational',
             'mapping_config_id': company_mapping.id}])
        self.assertEqual(body, {'company': {'name': 'ACME', 'country': {'code': 'UA'}}})

    def test_user_and_company_records(self):
        user = self.env['res.users'].create({
            'name': 'Api User', 'login': 'bj_api_user', 'company_id': self.env.company.id,
            'company_ids': [(6, 0, self.env.company.ids)]})
        company_mapping = self.make_config(model='res.company', name='Company', lines=[
            ('name', 'name'), ('currency', 'currency_id.name')])
        body = self.sent(user, [
            ('login', 'login'), ('partner_name', 'partner_id.name'),
            {'api_key': 'company', 'field_path': 'company_id', 'value_type': 'relational',
             'mapping_config_id': company_mapping.id}], model='res.users')
        self.assertEqual(body, {
            'login': 'bj_api_user', 'partner_name': 'Api User',
            'company': {'name': self.env.company.name, 'currency': self.env.company.currency_id.name}})

    # ------------------------------------------------------------------ keys, constants, order

    def test_dotted_api_keys_build_nested_objects(self):
        # A contact with a parent company takes the company's address: use a standalone one.
        person = self.env['res.partner'].create({
            'name': 'Olena', 'city': 'Lviv', 'zip': '79000', 'country_id': self.ukraine.id})
        body = self.sent(person, [
            ('name', 'name'), ('address.city', 'city'), ('address.zip', 'zip'),
            ('address.country.code', 'country_id.code'), ('address.country.name', 'country_id.name'),
        ])
        self.assertEqual(body, {
            'name': 'Olena',
            'address': {'city': 'Lviv', 'zip': '79000', 'country': {'code': 'UA', 'name': self.ukraine.name}},
        })

    def test_constants(self):
        def constant(key, value):
            return {'api_key': key, 'value_type': 'constant', 'constant_value': value}
        body = self.sent(self.partner, [
            constant('number', '42'), constant('float', '2.5'), constant('flag', 'true'),
            constant('off', 'false'), constant('nothing', 'null'), constant('object', '{"a": 1}'),
            constant('list', '[1, "two"]'), constant('quoted', '"42"'), constant('text', 'odoo integration'),
            constant('empty', False),
        ])
        self.assertEqual(body, {
            'number': 42, 'float': 2.5, 'flag': True, 'off': False, 'nothing': None, 'object': {'a': 1},
            'list': [1, 'two'], 'quoted': '42', 'text': 'odoo integration', 'empty': None,
        })

    def test_key_order_follows_sequence(self):
        config = self.make_config(lines=[
            {'api_key': 'third', 'field_path': 'email', 'sequence': 30},
            {'api_key': 'first', 'field_path': 'name', 'sequence': 10},
            {'api_key': 'address.zip', 'field_path': 'zip', 'sequence': 25},
            {'api_key': 'second', 'value_type': 'constant', 'constant_value': '2', 'sequence': 20},
            {'api_key': 'address.city', 'field_path': 'city', 'sequence': 22},
        ])
        config._make_outbound_http_request(self.partner, config.id)
        body = self.api.received[-1].json
        self.assertEqual(list(body), ['first', 'second', 'address', 'third'])
        self.assertEqual(list(body['address']), ['city', 'zip'])
        # The raw JSON text has the same order, too.
        raw = self.api.received[-1].body.decode()
        self.assertEqual([m.group(1) for m in re.finditer(r'"(\w+)":', raw)],
                         ['first', 'second', 'address', 'city', 'zip', 'third'])
        config.line_ids.filtered(lambda line: line.api_key == 'third').sequence = 1
        config._make_outbound_http_request(self.partner, config.id)
        self.assertEqual(list(self.api.received[-1].json), ['third', 'first', 'second', 'address'])

    def test_paginated_body_is_array_of_objects(self):
        body = self.sent(self.partner | self.colleague | self.company,
                         [('name', 'name'), ('company', 'parent_id.name')], is_paginated=True, page_size=2)
        self.assertEqual(len(self.api.received), 2)
        self.assertEqual(self.api.received[0].json, [
            {'name': 'Olena', 'company': 'ACME'}, {'name': 'Taras', 'company': 'ACME'}])
        self.assertEqual(body, [{'name': 'ACME', 'company': None}])

    def test_unicode_is_sent_as_utf8_json(self):
        self.partner.name = 'Олена Ковальчук'
        body = self.sent(self.partner, [('name', 'name')])
        self.assertEqual(body, {'name': 'Олена Ковальчук'})
        self.assertIn('application/json', self.api.received[-1].headers['Content-Type'])
