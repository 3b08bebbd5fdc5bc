"""Three kinds of configuration, each in its own place: outbound configurations (health, deliveries),
inbound endpoints (calls and their status codes) and sub-mappings (mapping lines only); names people
read: remote id scopes, log titles, models; and how an existing database gets there (the migration)."""
import importlib.util
import os
from datetime import timedelta

from lxml import etree

from odoo import fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .common import BjApiCase

MIGRATION = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'migrations', '1.2.0', 'post-migration.py')


def shown_columns(Config, action_xmlid):
    """The columns of an action's list view that show by default."""
    action = Config.env.ref(action_xmlid)
    arch = Config.get_views([(action.view_id.id, 'list')])['views']['list']['arch']
    return [field.get('name') for field in etree.fromstring(arch).xpath('/list/field')
            if field.get('column_invisible') != 'True' and field.get('optional') != 'hide']


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestKinds(BjApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.country_model = cls.env['ir.model']._get('res.country')
        cls.countries = cls.env['bj.api.sync.config'].create({
            'name': 'Countries', 'request_type': 'mapping', 'model_id': cls.country_model.id,
            'http_method_ids': [(5, 0, 0)], 'auth_type': 'basic',
            'line_ids': [(0, 0, {'api_key': 'code', 'field_path': 'code', 'is_identifier': True}),
                         (0, 0, {'api_key': 'name', 'field_path': 'name'})],
        })

    def make_endpoint(self, **values):
        return self.env['bj.api.sync.config'].create({
            'name': 'Partners endpoint', 'request_type': 'in', 'endpoint': values.pop('endpoint', 'kinds'),
            'model_id': self.partner_model.id, 'inbound_user_id': self.env.ref('base.user_admin').id,
            'http_method_ids': [(6, 0, self.method_get.ids)], **values})

    # ------------------------------------------------------------------ sub-mappings

    def test_sub_mapping_needs_no_url_method_or_auth(self):
        self.assertEqual((self.countries.url, self.countries.http_method_ids.ids), (False, []))
        self.assertFalse(self.countries.remote_id_scope, "a sub-mapping keeps no remote ids")
        config = self.make_config(lines=[('name', 'name'), {
            'api_key': 'country', 'field_path': 'country_id', 'value_type': 'relational',
            'mapping_config_id': self.countries.id}])
        self.assertEqual(self.countries.used_by_ids, config)
        self.assertEqual(self.countries.mapping_keys, 'code, name')
        partner = self.env['res.partner'].create({'name': 'Kyiv office', 'country_id': self.env.ref('base.ua').id})
        self.assertTrue(config._make_outbound_http_request(partner)['success'])
        self.assertEqual(self.api.received[0].json, {'name': 'Kyiv office', 'country': {'code': 'UA', 'name': 'Ukraine'}})
        # An inbound endpoint reads it in reverse (finds countries by its identifier).
        self.make_endpoint(line_ids=[(0, 0, {'api_key': 'country', 'field_path': 'country_id',
                                             'value_type': 'relational', 'mapping_config_id': self.countries.id})])
        with self.assertRaisesRegex(UserError, 'is not an outbound configuration'):
            self.env['bj.api.sync.config']._make_outbound_http_request(partner, self.countries.id)

    def test_outbound_rules_come_back_when_a_sub_mapping_turns_outbound(self):
        with self.assertRaises(ValidationError):
            self.countries.write({'request_type': 'out'})

    # ------------------------------------------------------------------ menus and lists

    def test_each_kind_has_its_menu_list_and_defaults(self):
        Config = self.env['bj.api.sync.config']
        for kind, action_xmlid in (('out', 'bj_api_sync.action_bj_api_sync_outbound'),
                                   ('in', 'bj_api_sync.action_bj_api_sync_inbound'),
                                   ('mapping', 'bj_api_sync.action_bj_api_sync_submapping')):
            action = self.env.ref(action_xmlid)
            self.assertEqual(action.domain, f"[('request_type', '=', '{kind}')]")
            self.assertEqual(action.context, f"{{'default_request_type': '{kind}'}}")
            self.assertLessEqual(len(shown_columns(Config, action_xmlid)), 8, "no column cut off")
        self.assertEqual(shown_columns(Config, 'bj_api_sync.action_bj_api_sync_outbound'), [
            'name', 'model_id', 'http_method_ids', 'url', 'health_state', 'last_error_date', 'success_rate_7d'])
        self.assertEqual(shown_columns(Config, 'bj_api_sync.action_bj_api_sync_inbound'), [
            'name', 'endpoint', 'model_id', 'call_count_7d', 'client_error_rate_7d',
            'server_error_rate_7d', 'duration_p95_7d', 'last_call_date'])
        self.assertEqual(shown_columns(Config, 'bj_api_sync.action_bj_api_sync_submapping'), [
            'name', 'model_id', 'mapping_keys', 'used_by_ids'])
        # Every kind together, for links made before the menus were split.
        self.assertEqual(self.env.ref('bj_api_sync.action_bj_api_sync_config').res_model, 'bj.api.sync.config')

    def test_form_shows_each_kind_what_it_has(self):
        arch = etree.fromstring(self.env['bj.api.sync.config'].get_views([(False, 'form')])['views']['form']['arch'])
        pages = {page.get('name'): page.get('invisible') for page in arch.iter('page')}
        for name in ('remote_ids', 'headers', 'parameters', 'script'):
            self.assertEqual(pages[name], "request_type != 'out'", name)
        self.assertEqual(pages['authentication'], "request_type == 'mapping'")
        self.assertEqual(pages['advanced'], "request_type == 'mapping'")
        [health_alert] = arch.xpath("//div[hasclass('alert-danger')][contains(@invisible, 'health_state')]")
        self.assertIn("request_type != 'out'", health_alert.get('invisible'))

    # ------------------------------------------------------------------ inbound statistics

    def test_inbound_endpoint_counts_calls_and_their_status_codes(self):
        endpoint, other = self.make_endpoint(), self.make_endpoint(endpoint='other', name='Other endpoint')
        Log = self.env['bj.api.log']
        for code in (200, 200, 201, 404, 401, 500):
            Log.create({'name': f'GET /bj_api_sync/v1/kinds ({code})', 'direction': 'in', 'config_id': endpoint.id,
                        'status': 'success' if code < 400 else 'error', 'response_status_code': code,
                        'duration_ms': 10, 'attempt': 1})
        old = Log.create({'name': 'GET /bj_api_sync/v1/kinds', 'direction': 'in', 'config_id': endpoint.id,
                          'status': 'success', 'response_status_code': 200, 'duration_ms': 10, 'attempt': 1})
        self.env.flush_all()
        self.env.cr.execute("UPDATE bj_api_log SET create_date = %s WHERE id = %s",
                            [fields.Datetime.now() - timedelta(days=10), old.id])
        configs = endpoint | other
        configs.invalidate_recordset()
        with self.assertQueryCount(1):
            configs.mapped('call_count_7d')
        self.assertEqual(endpoint.call_count_7d, 6, "the call of 10 days ago is not counted")
        self.assertAlmostEqual(endpoint.client_error_rate_7d, 2 / 6)
        self.assertAlmostEqual(endpoint.server_error_rate_7d, 1 / 6)
        self.assertEqual(endpoint.duration_p95_7d, 10)
        self.assertGreater(endpoint.last_call_date, fields.Datetime.now() - timedelta(minutes=5))
        self.assertEqual((other.call_count_7d, other.client_error_rate_7d, other.last_call_date), (0, 0.0, False))

    def test_inbound_endpoint_offers_only_the_auth_types_that_guard_it(self):
        endpoint = self.make_endpoint()
        offered = [key for key, _label in endpoint._inbound_auth_type_selection()]
        self.assertEqual(offered, ['none', 'basic', 'bearer', 'api_key'])
        endpoint.write({'inbound_auth_type': 'bearer', 'bearer_token': 'endpoint-token-1234'})
        self.assertEqual((endpoint.auth_type, endpoint.inbound_auth_type), ('bearer', 'bearer'))

    # ------------------------------------------------------------------ names people read

    def test_remote_id_scope_defaults_to_the_configs_name(self):
        first = self.make_config(name='CRM contacts')
        second = self.make_config(name='CRM contacts')
        self.assertEqual((first.remote_id_scope, second.remote_id_scope), ('CRM contacts', 'CRM contacts (2)'))
        self.assertEqual(first._remote_scope(), 'CRM contacts')
        self.assertEqual(first.copy().remote_id_scope, 'CRM contacts (3)', "a duplicate keeps its remote ids apart")
        shared = self.make_config(name='Contacts update', remote_id_scope='crm.contacts')
        self.assertEqual(shared.remote_id_scope, 'crm.contacts')
        shared.remote_id_scope = ''
        self.assertEqual(shared.remote_id_scope, 'Contacts update', "emptied, it is the name again")
        self.assertFalse(self.make_endpoint().remote_id_scope, "an inbound endpoint keeps no remote ids")
        # The remote ids of a deleted config keep its name: a new config of that name gets its own.
        self.env['bj.api.sync.link'].create({'scope': 'Old CRM', 'res_model': 'res.partner',
                                             'res_id': self.env.user.partner_id.id, 'remote_id': '7'})
        self.assertEqual(self.make_config(name='Old CRM').remote_id_scope, 'Old CRM (2)')

    def test_log_and_delivery_titles_name_the_records(self):
        partners = self.env['res.partner'].create([{'name': f'Title partner {n}'} for n in range(5)])
        gone = self.env['res.partner'].create({'name': 'Gone'})
        gone_id = gone.id
        gone.unlink()
        config = self.make_config()
        Log = self.env['bj.api.log']
        one, many, deleted, inbound = Log.create([
            {'name': f'POST res.partner [{partners[0].id}]', 'config_id': config.id, 'status': 'success',
             'http_method': 'POST', 'res_model': 'res.partner', 'res_ids': str(partners[0].id)},
            {'name': 'POST res.partner [...]', 'config_id': config.id, 'status': 'success', 'http_method': 'POST',
             'res_model': 'res.partner', 'res_ids': ','.join(map(str, partners.ids))},
            {'name': f'DELETE res.partner [{gone_id}]', 'config_id': config.id, 'status': 'success',
             'http_method': 'DELETE', 'res_model': 'res.partner', 'res_ids': str(gone_id)},
            {'name': 'GET /bj_api_sync/v1/partners', 'direction': 'in', 'status': 'success', 'http_method': 'GET',
             'res_model': 'res.partner', 'res_ids': str(partners[0].id)},
        ])
        self.assertEqual(one.display_name, 'POST Contact: Title partner 0')
        self.assertEqual(many.display_name, 'POST Contact: Title partner 0, Title partner 1, Title partner 2 and 2 more')
        self.assertEqual(deleted.display_name, f'DELETE Contact: #{gone_id}')
        self.assertEqual(inbound.display_name, 'GET /bj_api_sync/v1/partners', "inbound: the path called")
        result = config._make_outbound_http_request(partners[:1], queued=True)
        job = self.env['bj.api.sync.job'].browse(result['job_ids'])
        self.assertEqual(job.display_name, 'POST Contact: Title partner 0')

    def test_remote_ids_show_models_and_records_by_name(self):
        for model in ('bj.api.sync.link', 'bj.api.log', 'bj.api.sync.job'):
            selection = dict(self.env[model].fields_get(['res_model'], ['selection'])['res_model']['selection'])
            self.assertEqual(selection['res.partner'], 'Contact', model)
        partner = self.env['res.partner'].create({'name': 'Linked partner'})
        Link = self.env['bj.api.sync.link']
        kept, gone = Link.create([{'scope': 'Names', 'res_model': 'res.partner', 'res_id': partner.id, 'remote_id': '1'},
                                  {'scope': 'Names', 'res_model': 'res.partner', 'res_id': 999999999, 'remote_id': '2'}])
        self.assertEqual((kept.res_name, gone.res_name), ('Linked partner', '#999999999'))

    # ------------------------------------------------------------------ existing databases

    def test_migration_gives_existing_configs_their_kind_and_a_readable_scope(self):
        Config = self.env['bj.api.sync.config']
        sub_mapping = self.make_config(model='res.country', name='Old countries', lines=[('code', 'code')])
        used_outbound = self.make_config(model='res.country', name='Sent countries', lines=[('code', 'code')])
        self.make_config(name='Partners', lines=[('name', 'name'), *[{
            'api_key': key, 'field_path': 'country_id', 'value_type': 'relational', 'mapping_config_id': sub.id}
            for key, sub in (('country', sub_mapping), ('country_again', used_outbound))]])
        used_outbound._make_outbound_http_request(self.env.ref('base.ua'))
        legacy = self.make_config(name='Legacy scope', lines=[('name', 'name')])
        partner = self.env.user.partner_id
        self.env.flush_all()
        # As 1.1.0 left them: no scope, remote ids and waiting deliveries in the scope of the id.
        self.env.cr.execute("UPDATE bj_api_sync_config SET remote_id_scope = NULL WHERE id = %s", [legacy.id])
        self.env.cr.execute("""INSERT INTO bj_api_sync_link (scope, res_model, res_id, remote_id, config_id)
                               VALUES (%s, 'res.partner', %s, 'R-1', %s)""", [f'config:{legacy.id}', partner.id, legacy.id])
        job_ids = legacy._make_outbound_http_request(partner, queued=True)['job_ids']
        self.env.flush_all()
        self.env.cr.execute("UPDATE bj_api_sync_job SET ordering_key = %s WHERE id = ANY(%s)",
                            [f'{legacy.id}:res.partner:{partner.id}', job_ids])
        Config.invalidate_model()
        self.env['bj.api.sync.job'].invalidate_model()

        spec = importlib.util.spec_from_file_location('bj_api_sync_migration_1_2_0', MIGRATION)
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        migration.migrate(self.env.cr, '18.0.1.1.0')

        self.assertEqual(sub_mapping.request_type, 'mapping', "only ever used as a sub-mapping")
        self.assertEqual(used_outbound.request_type, 'out', "it has sent requests")
        self.assertEqual(legacy.remote_id_scope, 'Legacy scope')
        link = self.env['bj.api.sync.link'].search([('res_id', '=', partner.id), ('res_model', '=', 'res.partner'),
                                                    ('config_id', '=', legacy.id)])
        self.assertEqual((link.scope, link.remote_id), ('Legacy scope', 'R-1'), "its remote ids moved with it")
        self.assertEqual(self.env['bj.api.sync.job'].browse(job_ids).ordering_key,
                         f'Legacy scope:res.partner:{partner.id}')
