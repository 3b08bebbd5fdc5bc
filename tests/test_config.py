"""Models, data, menus, views and save-time constraints of a configuration (docs/reference.md: fields, URL rule)."""
from psycopg2 import IntegrityError

from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import BjApiCase

NAME = 'Broken CRM sync'


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestConfig(BjApiCase):

    def assertRefused(self, make, *fragments, name=NAME):
        """``make()`` raises a ValidationError whose message names the config and holds ``fragments``."""
        with self.assertRaises(ValidationError) as caught:
            make()
            self.env.flush_all()
        message = str(caught.exception)
        self.assertIn(name, message)
        for fragment in fragments:
            self.assertIn(fragment.lower(), message.lower())
        return message

    def refused_config(self, *fragments, **values):
        return self.assertRefused(lambda: self.make_config(name=NAME, **values), *fragments)

    def refused_line(self, *fragments, **line):
        return self.refused_config(*fragments, lines=[line])

    # ------------------------------------------------------------------ defaults and data

    def test_defaults(self):
        Config = self.env['bj.api.sync.config']
        defaults = Config.default_get(list(Config._fields))
        self.assertEqual(defaults['connection_timeout'], 5)
        self.assertEqual(defaults['read_timeout'], 15)
        self.assertEqual(defaults['page_size'], 100)
        self.assertEqual(defaults['max_retries'], 3)
        self.assertEqual(defaults['request_type'], 'out')
        self.assertEqual(defaults['auth_type'], 'none')
        self.assertEqual(defaults['domain'], '[]')
        self.assertTrue(defaults['active'])
        self.assertFalse(defaults.get('is_paginated'))

        config = Config.create({
            'name': 'Defaults', 'model_id': self.partner_model.id, 'url': 'https://api.example.com/partners'})
        self.assertEqual(config.http_method_ids, self.method_post, "POST is preselected")
        self.assertEqual((config.connection_timeout, config.read_timeout), (5, 15))
        self.assertEqual((config.page_size, config.max_retries), (100, 3))
        self.assertEqual((config.request_type, config.auth_type, config.domain), ('out', 'none', '[]'))
        self.assertTrue(config.active)
        self.assertFalse(config.is_paginated)

    def test_http_method_data(self):
        methods = {
            'GET': 'bj_api_sync.http_method_get',
            'POST': 'bj_api_sync.http_method_post',
            'PUT': 'bj_api_sync.http_method_put',
            'DELETE': 'bj_api_sync.http_method_delete',
        }
        for name, xml_id in methods.items():
            self.assertEqual(self.env.ref(xml_id)._name, 'bj.http.method')
            self.assertEqual(self.env.ref(xml_id).name, name)
        self.assertEqual(self.env['bj.http.method'].search_count([('name', 'in', list(methods))]), 4)

    def test_http_method_name_unique(self):
        with self.assertRaises(IntegrityError), mute_logger('odoo.sql_db'):
            self.env['bj.http.method'].create({'name': 'GET'})
            self.env.flush_all()

    def test_unique_constraints_exist_on_every_odoo_version(self):
        # 19.0 ignores _sql_constraints (with a mere warning): compat.unique declares them for both.
        expected = {'bj_http_method_name_unique', 'bj_api_sync_idempotency_key_unique',
                    'bj_api_sync_job_idempotency_key_unique', 'bj_api_sync_health_config_unique',
                    'bj_api_sync_link_record_unique', 'bj_api_sync_token_key_unique'}
        self.env.cr.execute("SELECT conname FROM pg_constraint WHERE contype = 'u' AND conname IN %s", [tuple(expected)])
        self.assertEqual({name for (name,) in self.env.cr.fetchall()}, expected)
        config = self.make_config()
        Keys = self.env['bj.api.sync.idempotency']
        Keys.create({'config_id': config.id, 'key': 'order-1', 'request_hash': 'a'})
        with self.assertRaises(IntegrityError), mute_logger('odoo.sql_db'), self.env.cr.savepoint():
            Keys.create({'config_id': config.id, 'key': 'order-1', 'request_hash': 'b'})
            self.env.flush_all()

    def test_model_name_stored_and_searchable(self):
        Config = self.env['bj.api.sync.config']
        self.assertTrue(Config._fields['model_name'].store)
        partner_config = self.make_config(name='Partners out')
        country_config = self.make_config(model='res.country', name='Countries out')
        self.assertEqual(partner_config.model_name, 'res.partner')
        self.assertEqual(country_config.model_name, 'res.country')
        found = Config.search([('model_name', '=', 'res.partner')])
        self.assertIn(partner_config, found)
        self.assertNotIn(country_config, found)

    def test_menus_under_settings_technical(self):
        root = self.env['ir.ui.menu'].search([
            ('parent_id', '=', self.env.ref('base.menu_custom').id), ('name', '=', 'BJ API')])
        self.assertEqual(len(root), 1, "Settings > Technical > BJ API")
        self.assertEqual(root, self.env.ref('bj_api_sync.menu_bj_api_root'))
        children = self.env['ir.ui.menu'].search([('parent_id', '=', root.id)])
        by_model = {menu.action.res_model: menu for menu in children if menu.action}
        for model in ('bj.api.sync.config', 'bj.api.log', 'bj.http.method'):
            self.assertIn(model, by_model, f"a BJ API menu opens {model}")
            self.assertEqual(by_model[model].action._name, 'ir.actions.act_window')
        # One menu per kind of configuration, each listing that kind only.
        configs = children.filtered(lambda menu: menu.action.res_model == 'bj.api.sync.config')
        self.assertEqual([(menu.name, menu.action.domain) for menu in configs], [
            ('Outbound', "[('request_type', '=', 'out')]"),
            ('Inbound endpoints', "[('request_type', '=', 'in')]"),
            ('Sub-mappings', "[('request_type', '=', 'mapping')]"),
        ])
        self.assertEqual(by_model['bj.api.log'].name, 'Logs')
        self.assertEqual(by_model['bj.http.method'].name, 'HTTP Methods')

    def test_views_load(self):
        for model in ('bj.api.sync.config', 'bj.api.log', 'bj.http.method'):
            views = self.env[model].get_views([(False, 'form'), (False, 'list'), (False, 'search')])
            self.assertEqual(set(views['views']), {'form', 'list', 'search'}, model)
            for view_type in ('form', 'list', 'search'):
                # A log is shown by its display name (its records as people know them), searched by its name.
                self.assertRegex(views['views'][view_type]['arch'], '<field name="(display_)?name"', (model, view_type))
        form = self.env['bj.api.sync.config'].get_views([(False, 'form')])['views']['form']['arch']
        for field in ('url', 'http_method_ids', 'line_ids', 'header_ids', 'param_ids', 'auth_password',
                      'bearer_token', 'python_script', 'is_paginated', 'page_size', 'max_retries'):
            self.assertIn(f'name="{field}"', form)

    # ------------------------------------------------------------------ http methods and URL

    def test_out_config_needs_exactly_one_method(self):
        self.refused_config('method', http_method_ids=[(6, 0, [])])
        self.refused_config('method', method=self.method_get | self.method_post)
        config = self.make_config(name=NAME)
        self.assertRefused(lambda: config.write({'http_method_ids': [(4, self.method_put.id)]}), 'method')
        self.assertRefused(lambda: config.write({'http_method_ids': [(5, 0, 0)]}), 'method')

    def test_each_single_method_is_accepted(self):
        for method in (self.method_get, self.method_post, self.method_put, self.method_delete):
            config = self.make_config(name=f'One {method.name}', method=method)
            self.assertEqual(config.http_method_ids, method)

    def test_url_must_be_http_or_https(self):
        for url in ('ftp://x', 'not a url', '', False, 'http://', 'javascript:alert(1)', 'file:///etc/passwd'):
            with self.subTest(url=url):
                self.refused_config('url', url=url)
        config = self.make_config(name=NAME, url='https://api.example.com/partners')
        self.assertRefused(lambda: config.write({'url': 'ftp://x'}), 'url')
        config.write({'url': 'http://api.example.com:8080/v1/partners?x=1'})
        self.assertEqual(config.url, 'http://api.example.com:8080/v1/partners?x=1')

    def test_in_config_needs_no_url_and_may_allow_several_methods(self):
        config = self.env['bj.api.sync.config'].create({
            'name': 'Inbound endpoint', 'request_type': 'in', 'model_id': self.partner_model.id, 'url': False,
            'endpoint': 'partners', 'inbound_user_id': self.env.ref('base.user_admin').id,
            'http_method_ids': [(6, 0, (self.method_get | self.method_post).ids)]})
        self.assertEqual(config.request_type, 'in')
        self.assertEqual(len(config.http_method_ids), 2)
        # Turning it outbound brings the outbound rules back.
        self.assertRefused(lambda: config.write({'request_type': 'out'}), name='Inbound endpoint')

    # ------------------------------------------------------------------ numbers

    def test_timeouts_in_range(self):
        self.refused_config('between', connection_timeout=0)
        self.refused_config('between', connection_timeout=61)
        self.refused_config('between', read_timeout=0)
        self.refused_config('between', read_timeout=301)
        config = self.make_config(name='Limits', connection_timeout=1, read_timeout=300)
        config.write({'connection_timeout': 60, 'read_timeout': 1})
        self.assertRefused(lambda: config.write({'read_timeout': 301}), name='Limits')

    def test_page_size_positive(self):
        self.refused_config('page size', page_size=0)
        self.refused_config('page size', page_size=-5, is_paginated=True)
        self.assertEqual(self.make_config(name='Pages', is_paginated=True, page_size=1).page_size, 1)

    def test_max_retries_in_range(self):
        self.refused_config('retries', max_retries=-1)
        self.refused_config('retries', max_retries=1000)
        self.assertEqual(self.make_config(name='No retry', max_retries=0).max_retries, 0)

    def test_get_cannot_be_paginated(self):
        self.refused_config('GET', method=self.method_get, is_paginated=True)
        config = self.make_config(name=NAME, method=self.method_get)
        self.assertRefused(lambda: config.write({'is_paginated': True}), 'GET')
        paginated = self.make_config(name=NAME, is_paginated=True)
        self.assertRefused(lambda: paginated.write({'http_method_ids': [(6, 0, self.method_get.ids)]}), 'GET')

    def test_url_placeholders_not_with_pagination(self):
        url = self.api.url('/partners/{external_id}')
        self.refused_config('placeholder', url=url, is_paginated=True)
        config = self.make_config(name=NAME, url=url)
        self.assertRefused(lambda: config.write({'is_paginated': True}), 'placeholder')

    # ------------------------------------------------------------------ domain

    def test_domain_must_be_valid(self):
        self.refused_config('domain', domain="[('no_such_field', '=', 1)]")
        self.refused_config('domain', domain="'not a list'")
        self.refused_config('domain', domain="42")
        self.refused_config('domain', domain="[('name', '=',")
        self.refused_config('domain', domain="[('name', 'like like', 'x')]")

    def test_domain_accepts_guide_examples_and_time_names(self):
        for domain in (
            "[('active', '=', True), ('customer_rank', '>', 0)]",
            "[('create_date', '>=', (datetime.now() - timedelta(days=7)).strftime('%Y-%m-%d'))]",
            "[('write_date', '>=', datetime.datetime.now() - relativedelta(months=1))]",
            "[('create_uid', '=', uid), ('create_date', '<=', context_today())]",
            "[('create_date', '>=', time.strftime('%Y-01-01'))]",
        ):
            with self.subTest(domain=domain):
                config = self.make_config(name='Domains', domain=domain)
                self.assertEqual(config.domain, domain)

    def test_domain_checked_against_model_when_model_changes(self):
        config = self.make_config(name=NAME, domain="[('is_company', '=', True)]")
        self.assertRefused(lambda: config.write({'model_id': self.env['ir.model']._get('res.country').id}))

    # ------------------------------------------------------------------ mapping lines

    def test_line_unknown_field_path(self):
        self.refused_line('no_such_field', api_key='x', field_path='no_such_field')
        self.refused_line('no_such_field', api_key='x', field_path='parent_id.no_such_field')

    def test_line_path_through_non_relational_field(self):
        self.refused_line('name', api_key='x', field_path='name.upper')
        self.refused_line('relational', api_key='x', field_path='email.domain')

    def test_line_empty_path_for_plain_or_relational(self):
        self.refused_line('x', api_key='x', value_type='plain')
        self.refused_line('x', api_key='x', value_type='relational', field_path='  ')

    def test_line_added_later_is_checked(self):
        config = self.make_config(name=NAME, lines=[('name', 'name')])
        self.assertRefused(lambda: config.write({'line_ids': [(0, 0, {'api_key': 'x', 'field_path': 'nope'})]}), 'nope')
        self.assertRefused(lambda: config.line_ids.write({'field_path': 'nope'}), 'nope')

    def test_line_checked_when_model_changes(self):
        config = self.make_config(name=NAME, lines=[('email', 'email')])
        self.assertRefused(lambda: config.write({'model_id': self.env['ir.model']._get('res.country').id}), 'email')

    def test_only_one_identifier_line(self):
        self.refused_config('identifier', lines=[
            {'api_key': 'id', 'field_path': 'id', 'is_identifier': True},
            {'api_key': 'ref', 'field_path': 'ref', 'is_identifier': True},
        ])
        config = self.make_config(name=NAME, lines=[
            {'api_key': 'id', 'field_path': 'id', 'is_identifier': True}, ('ref', 'ref')])
        self.assertEqual(config.line_ids.filtered('is_identifier').api_key, 'id')
        self.assertRefused(lambda: config.line_ids.filtered(lambda line: line.api_key == "ref").write(
            {'is_identifier': True}), 'identifier')

    def test_api_keys_must_not_conflict(self):
        self.refused_config("'a'", lines=[('a', 'name'), ('a.b', 'email')])
        self.refused_config("'a.b'", lines=[('a.b.c', 'name'), ('a.b', 'email')])
        self.refused_config(lines=[('dup', 'name'), ('dup', 'email')])
        self.refused_config(lines=[('address..city', 'city')])
        config = self.make_config(name='Nested ok', lines=[('a.b', 'name'), ('a.c', 'email'), ('ab', 'ref')])
        self.assertEqual(len(config.line_ids), 3)

    def test_sub_mapping_must_be_for_the_related_model(self):
        countries = self.make_config(model='res.country', name='Country mapping', lines=[('code', 'code')])
        self.refused_line('res.country', api_key='parent', field_path='parent_id',
                          value_type='relational', mapping_config_id=countries.id)
        partners = self.make_config(name='Partner mapping', lines=[('name', 'name')])
        config = self.make_config(name='Good sub-mappings', lines=[
            {'api_key': 'parent', 'field_path': 'parent_id', 'value_type': 'relational',
             'mapping_config_id': partners.id},
            {'api_key': 'country', 'field_path': 'country_id', 'value_type': 'relational',
             'mapping_config_id': countries.id},
        ])
        self.assertEqual(len(config.line_ids), 2)

    def test_sub_mapping_loop_is_refused(self):
        config = self.make_config(name=NAME, lines=[('name', 'name')])
        self.assertRefused(lambda: config.write({'line_ids': [(0, 0, {
            'api_key': 'parent', 'field_path': 'parent_id', 'value_type': 'relational',
            'mapping_config_id': config.id})]}))

    def test_sub_mapping_on_non_relational_field(self):
        countries = self.make_config(model='res.country', name='Country mapping', lines=[('code', 'code')])
        self.refused_line('relational', api_key='x', field_path='name',
                          value_type='relational', mapping_config_id=countries.id)

    def test_field_path_filled_from_field_id(self):
        email = self.env['ir.model.fields']._get('res.partner', 'email')
        parent = self.env['ir.model.fields']._get('res.partner', 'parent_id')
        config = self.make_config(name='From field', lines=[
            {'api_key': 'mail', 'field_id': email.id},
            {'api_key': 'company', 'field_id': parent.id, 'field_path': 'parent_id.name'},
        ])
        lines = {line.api_key: line for line in config.line_ids}
        self.assertEqual(lines['mail'].field_path, 'email')
        self.assertEqual(lines['company'].field_path, 'parent_id.name', "a written path is kept")

    # ------------------------------------------------------------------ headers and params

    def test_headers_and_params_refuse_line_breaks(self):
        for rows in (
            {'header_ids': [(0, 0, {'key': 'X-Evil\r\nInjected', 'value': '1'})]},
            {'header_ids': [(0, 0, {'key': 'X-Client-Id', 'value': 'odoo\nSet-Cookie: a=b'})]},
            {'header_ids': [(0, 0, {'key': 'X-Client-Id', 'value': 'odoo\r'})]},
            {'param_ids': [(0, 0, {'key': 'a\nb', 'value': '1'})]},
            {'param_ids': [(0, 0, {'key': 'a', 'value': '1\r\n2'})]},
        ):
            with self.subTest(rows=rows):
                self.refused_config('line break', **rows)
        config = self.make_config(name=NAME, header_ids=[(0, 0, {'key': 'X-API-Version', 'value': '2.0'})])
        self.assertRefused(lambda: config.header_ids.write({'value': '2.0\r\nX-Other: 1'}), 'line break')

    # ------------------------------------------------------------------ payload script

    def test_payload_script_syntax_error(self):
        message = self.refused_config('payload script', python_script="result = {'a': 1\n")
        self.assertIn('SyntaxError', message)

    def test_payload_script_refused_imports(self):
        self.refused_config('payload script', 'os', python_script="import os\nresult = os.getcwd()")
        self.refused_config('payload script', 'subprocess', python_script="from subprocess import run\nresult = 1")
        config = self.make_config(name=NAME, python_script="result = request_data")
        self.assertRefused(lambda: config.write({'python_script': "import sys"}), 'sys')

    def test_payload_script_allowed(self):
        config = self.make_config(name='Script ok', python_script=(
            "from datetime import datetime\n"
            "result = {'data': request_data, 'timestamp': datetime.now().isoformat(), 'source': 'odoo'}\n"))
        self.assertTrue(config.python_script)
