"""Inbound endpoints over real HTTP (docs/reference.md, "Inbound endpoints"): an external client calls
/bj_api_sync/v1/<endpoint> on the test server, without any Odoo session, as curl would."""
import base64
import contextlib
import datetime
import json
import logging
import time

import psycopg2.errors
import requests

import odoo.tests.common
from odoo.exceptions import ValidationError
from odoo.fields import Command
from odoo.tests import HttpCase, tagged
from odoo.tests.common import new_test_user
from odoo.tools import mute_logger

from ..compat import USER_GROUPS
from ..engine.inbound import front_door as inbound
from ..engine.shared import signing

LOGIN, PASSWORD = 'crm', 'pa55-INBOUND-secret'
AUTH = (LOGIN, PASSWORD)
SECRET = 'whsec_' + base64.b64encode(b'inbound-signing-key-0123456789ab').decode()


class InboundCase(HttpCase):
    """A ``partners`` endpoint over res.partner, run as a user of its own, with Basic auth."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = new_test_user(cls.env, login='bj_inbound', groups='base.group_user,base.group_partner_manager')
        cls.ukraine = cls.env.ref('base.ua')
        cls.tag = cls.env['res.partner.category'].create({'name': 'BJ inbound tag'})
        Config = cls.env['bj.api.sync.config']
        cls.countries = Config.create({
            'name': 'Countries', 'request_type': 'out', 'model_id': cls.env['ir.model']._get('res.country').id,
            'url': 'http://127.0.0.1:9/countries',
            'line_ids': [(0, 0, {'api_key': 'code', 'field_path': 'code', 'is_identifier': True}),
                         (0, 0, {'api_key': 'name', 'field_path': 'name'})],
        })
        cls.config = Config.create({
            'name': 'Partners endpoint', 'request_type': 'in', 'endpoint': 'partners',
            'model_id': cls.env['ir.model']._get('res.partner').id,
            'domain': "[('is_company', '=', False)]",
            'http_method_ids': cls.methods('get', 'post', 'put', 'delete'),
            'inbound_user_id': cls.user.id,
            'auth_type': 'basic', 'auth_login': LOGIN, 'auth_password': PASSWORD,
            'line_ids': [(0, 0, line) for line in [
                {'api_key': 'ref', 'field_path': 'ref', 'is_identifier': True},
                {'api_key': 'name', 'field_path': 'name'},
                {'api_key': 'email', 'field_path': 'email'},
                {'api_key': 'address.city', 'field_path': 'city'},
                {'api_key': 'country', 'field_path': 'country_id', 'value_type': 'relational',
                 'mapping_config_id': cls.countries.id},
                {'api_key': 'phone', 'field_path': 'phone', 'value_type': 'python',
                 'python_code': "re.sub(r'[^0-9+]', '', value or '') if direction == 'in' else record.phone"},
                {'api_key': 'source', 'field_path': 'function', 'value_type': 'constant', 'constant_value': 'api'},
                {'api_key': 'tags', 'field_path': 'category_id'},
                {'api_key': 'odoo_id', 'field_path': 'id'},
            ]],
        })

    @classmethod
    def methods(cls, *names):
        return [(6, 0, [cls.env.ref(f'bj_api_sync.http_method_{name}').id for name in names])]

    def call(self, method, path='', body=None, auth=AUTH, endpoint='partners', **kwargs):
        """One request as an external client makes it: no Odoo session (19.0's test server only wants
        the test's own cookie, which is no session)."""
        if body is not None:
            kwargs['json'] = body
        self.env.flush_all()  # the server reads the database, not this test's cache
        allowed = self.allow_requests() if hasattr(self, 'allow_requests') else contextlib.nullcontext()
        with allowed:
            cookie = getattr(odoo.tests.common, 'TEST_CURSOR_COOKIE_NAME', None)
            response = requests.request(method, f"{self.base_url()}/bj_api_sync/v1/{endpoint}{path}", auth=auth,
                                        timeout=30, cookies={cookie: self.http_request_key} if cookie else None,
                                        **kwargs)
        self.env.invalidate_all()
        return response

    def partners(self, **values):
        return self.env['res.partner'].with_context(active_test=False).search(
            [(name, '=', value) for name, value in values.items()])

    def assertError(self, response, status, *words, line=None):
        self.assertEqual(response.status_code, status, response.text)
        body = response.json()
        self.assertEqual(set(body), {'error', 'status_code', 'line_id'})
        self.assertEqual(body['status_code'], status)
        for word in words:
            self.assertIn(word, body['error'])
        if line is not None:
            self.assertEqual(body['line_id'], line.id)
        self.assertNotIn('Traceback', response.text)
        return body

    def line(self, key, config=None):
        return (config or self.config).line_ids.filtered(lambda line: line.api_key == key)

    def last_log(self, config=None):
        return self.env['bj.api.log'].search([('config_id', '=', (config or self.config).id)], limit=1)


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestInboundRoutes(InboundCase):

    def test_create_read_list_update_delete(self):
        created = self.call('POST', body={
            'ref': 'C-1', 'name': 'Olena Petrenko', 'email': 'olena@example.com', 'address': {'city': 'Lviv'},
            'country': 'UA', 'phone': '+38 (050) 111-22-33', 'tags': [self.tag.id]})
        self.assertEqual(created.status_code, 201, created.text)
        partner = self.partners(ref='C-1')
        self.assertEqual(len(partner), 1)
        self.assertEqual((partner.name, partner.city, partner.country_id, partner.phone, partner.function),
                         ('Olena Petrenko', 'Lviv', self.ukraine, '+380501112233', 'api'))
        self.assertEqual(partner.category_id, self.tag)
        self.assertEqual(partner.create_uid, self.user, "written as the endpoint's user")
        self.assertEqual(created.headers['Location'], '/bj_api_sync/v1/partners/C-1')
        self.assertEqual(created.json(), {
            'ref': 'C-1', 'name': 'Olena Petrenko', 'email': 'olena@example.com', 'address': {'city': 'Lviv'},
            'country': {'code': 'UA', 'name': self.ukraine.name}, 'phone': '+380501112233', 'source': 'api',
            'tags': [self.tag.id], 'odoo_id': partner.id})

        one = self.call('GET', '/C-1')
        self.assertEqual(one.status_code, 200)
        self.assertEqual(one.json(), created.json())

        self.call('POST', body={'ref': 'C-2', 'name': 'Taras', 'country': {'code': 'UA'}})
        self.call('POST', body={'ref': 'C-3', 'name': 'Ivan', 'country': 'PL'})
        listed = self.call('GET', params={'country': 'UA'}).json()
        self.assertEqual([item['ref'] for item in listed['items']], ['C-1', 'C-2'])
        self.assertEqual((listed['total'], listed['limit'], listed['offset']), (2, 100, 0))
        page = self.call('GET', params={'limit': 1, 'offset': 1, 'ref': ['C-1', 'C-3']}).json()
        self.assertEqual(([item['ref'] for item in page['items']], page['total']), (['C-3'], 2))

        updated = self.call('PUT', '/C-1', body={'email': 'olena@new.example.com', 'address': {'city': 'Kyiv'}})
        self.assertEqual(updated.status_code, 200, updated.text)
        self.assertEqual((partner.email, partner.city, partner.name), ('olena@new.example.com', 'Kyiv', 'Olena Petrenko'))
        self.assertEqual(updated.json()['address'], {'city': 'Kyiv'})

        deleted = self.call('DELETE', '/C-1')
        self.assertEqual((deleted.status_code, deleted.content), (204, b''))
        self.assertFalse(partner.exists())
        self.assertError(self.call('DELETE', '/C-1'), 404)

    def test_odoo_id_is_the_key_without_an_identifier_line(self):
        self.line('ref').is_identifier = False
        partner = self.env['res.partner'].create({'name': 'By id'})
        self.assertEqual(self.call('GET', f'/{partner.id}').json()['name'], 'By id')
        self.assertError(self.call('GET', '/not-a-number'), 404)

    def test_method_not_allowed_answers_405_with_allow(self):
        partner = self.env['res.partner'].create({'name': 'Patched', 'ref': 'P-1'})
        for method, path in (('PATCH', '/P-1'), ('POST', '/P-1'), ('DELETE', ''), ('OPTIONS', '')):
            with self.subTest(method=method, path=path):
                response = self.call(method, path, body={'name': 'x'})
                self.assertError(response, 405, method)
                self.assertEqual(response.headers['Allow'], 'GET, PUT, DELETE' if path else 'GET, POST, PUT')
        self.assertEqual(partner.name, 'Patched')
        self.config.http_method_ids = self.methods('get', 'patch')
        self.assertEqual(self.call('PATCH', '/P-1', body={'name': 'Patched again'}).status_code, 200)
        self.assertEqual(partner.name, 'Patched again')

    def test_unknown_endpoint_and_archived_config(self):
        self.assertError(self.call('GET', endpoint='nothing-here'), 404, 'Unknown endpoint')
        self.config.active = False
        self.assertError(self.call('GET'), 404)

    def test_every_call_is_logged_inbound_with_masked_headers_and_client_address(self):
        self.call('POST', body={'ref': 'L-1', 'name': 'Logged'}, headers={'X-Trace': 'abc'})
        self.call('GET', '/L-1', auth=(LOGIN, 'wrong-password'))
        refused, created = self.env['bj.api.log'].search([('config_id', '=', self.config.id)], limit=2)
        self.assertEqual((created.direction, created.status, created.http_method, created.response_status_code),
                         ('in', 'success', 'POST', 201))
        self.assertEqual(created.client_address, '127.0.0.1')
        self.assertEqual((created.res_model, created.res_ids), ('res.partner', str(self.partners(ref='L-1').id)))
        self.assertIn('"Authorization": "Basic ***"', created.request_headers)
        self.assertIn('"X-Trace": "abc"', created.request_headers)
        self.assertEqual(json.loads(created.request_body), {'ref': 'L-1', 'name': 'Logged'})
        self.assertEqual(json.loads(created.response_body)['ref'], 'L-1')
        self.assertEqual((refused.status, refused.response_status_code), ('error', 401))
        self.assertIn('credentials', refused.error_message)
        self.env.cr.execute("SELECT row_to_json(log)::text FROM bj_api_log AS log WHERE config_id = %s",
                            [self.config.id])
        encoded = base64.b64encode(f'{LOGIN}:{PASSWORD}'.encode()).decode()
        for (row,) in self.env.cr.fetchall():
            self.assertNotIn(PASSWORD, row)
            self.assertNotIn(encoded, row)
        self.assertEqual(self.env['bj.api.log'].search_count([('direction', '=', 'in'),
                                                              ('config_id', '=', self.config.id)]), 2)

    def test_unknown_endpoint_is_logged_too(self):
        self.call('GET', endpoint='no-such-thing')
        log = self.env['bj.api.log'].search([('direction', '=', 'in')], limit=1)
        self.assertEqual((log.config_id.id, log.response_status_code, log.name),
                         (False, 404, 'GET /bj_api_sync/v1/no-such-thing'))


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestInboundBadInput(InboundCase):
    """Each bad input gets its own code and message, and nothing is written."""

    def assertNothingCreated(self, response, status, *words, line=None):
        count = self.env['res.partner'].search_count([])
        body = self.assertError(response, status, *words, line=line)
        self.assertEqual(self.env['res.partner'].search_count([]), count)
        return body

    def test_malformed_json(self):
        self.assertNothingCreated(self.call('POST', data=b'{"name": "x",', headers={
            'Content-Type': 'application/json'}), 400, 'not valid JSON')

    def test_array_where_an_object_is_expected(self):
        self.assertNothingCreated(self.call('POST', body=[{'name': 'x'}]), 400, 'JSON object', 'array')

    def test_wrong_value_types(self):
        for body, key, expected in (({'ref': 'W-1', 'name': 5}, 'name', 'a string'),
                                    ({'ref': 'W-1', 'name': 'x', 'tags': 'vip'}, 'tags', 'a list of record ids'),
                                    ({'ref': 'W-1', 'name': 'x', 'tags': [999999]}, 'tags', 'a list of record ids'),
                                    ({'name': 'x', 'address': 'Lviv'}, 'address', 'unknown key')):
            with self.subTest(key=key):
                self.assertNothingCreated(self.call('POST', body=body), 400, key, expected)
        self.assertNothingCreated(self.call('POST', body={'ref': 'W-1', 'name': 5}), 400, line=self.line('name'))

    def test_unknown_and_read_only_keys(self):
        self.assertNothingCreated(self.call('POST', body={'name': 'x', 'nickname': 'y'}), 400, "unknown key 'nickname'")
        self.assertNothingCreated(self.call('POST', body={'ref': 'U-1', 'name': 'x', 'odoo_id': 7}), 400,
                                  "'odoo_id' is read-only",
                                  line=self.line('odoo_id'))
        self.assertNothingCreated(self.call('POST', body={'ref': 'U-1', 'name': 'x', 'source': 'other'}), 400, 'source',
                                  line=self.line('source'))
        self.line('source').field_path = False
        self.assertEqual(self.call('POST', body={'ref': 'U-2', 'name': 'Echo', 'source': 'api'}).status_code, 201)

    def test_unknown_related_record(self):
        self.assertNothingCreated(self.call('POST', body={'ref': 'X-1', 'name': 'x', 'country': 'XX'}), 400,
                                  "the key 'country': no Country has code 'XX'",
                                  line=self.line('country'))

    def test_body_over_the_limit(self):
        self.env['ir.config_parameter'].sudo().set_param('bj_api_sync.inbound_max_bytes', '1000')
        self.assertNothingCreated(self.call('POST', body={'name': 'x' * 2000}), 413, '1000')
        self.assertEqual(self.call('POST', body={'ref': 'B-1', 'name': 'x' * 100}).status_code, 201)

    def test_not_json_content_type(self):
        self.assertNothingCreated(self.call('POST', data='name=x', headers={
            'Content-Type': 'application/x-www-form-urlencoded'}), 415, 'application/json')
        self.assertNothingCreated(self.call('POST', data=b'{"name": "x"}', headers={'Content-Type': 'text/plain'}), 415)

    def test_limit_and_offset_bounds(self):
        for params in ({'limit': -1}, {'limit': 0}, {'limit': 1001}, {'limit': 10**30}, {'limit': 'ten'},
                       {'offset': -5}):
            with self.subTest(params=params):
                self.assertError(self.call('GET', params=params), 400, next(iter(params)))
        self.assertEqual(self.call('GET', params={'limit': 1000}).status_code, 200)

    def test_filters_on_unmapped_keys(self):
        self.assertError(self.call('GET', params={'password': 'x'}), 400, "cannot filter on 'password'")
        self.assertError(self.call('GET', params={'phone': '1'}), 400, "cannot filter on 'phone'")
        self.assertError(self.call('GET', params={'odoo_id': 'abc'}), 400, 'odoo_id')

    def test_sql_looking_values_are_only_values(self):
        self.call('POST', body={'ref': "x'; DROP TABLE res_partner; --", 'name': "Robert'); DROP TABLE res_partner;--"})
        partner = self.partners(ref="x'; DROP TABLE res_partner; --")
        self.assertEqual(partner.name, "Robert'); DROP TABLE res_partner;--")
        listed = self.call('GET', params={'name': "' OR 1=1 --"}).json()
        self.assertEqual((listed['items'], listed['total']), ([], 0))
        found = self.call('GET', params={'ref': "x'; DROP TABLE res_partner; --"}).json()
        self.assertEqual([item['odoo_id'] for item in found['items']], partner.ids)
        self.assertEqual(self.call('GET', "/x'%20OR%20'1'='1").status_code, 404)

    def test_a_script_refusal_writes_nothing(self):
        self.line('phone').python_code = "raise UserError('phone numbers are refused') if direction == 'in' else ''"
        self.assertNothingCreated(self.call('POST', body={'ref': 'S-1', 'name': 'x', 'phone': '1'}), 400,
                                  'phone numbers are refused',
                                  line=self.line('phone'))

    def test_a_value_a_constraint_needs_is_refused_before_the_database(self):
        # A contact's name is required by a CHECK constraint: refused before anything is written, and
        # nothing is logged as an error.
        with self.assertNoLogs(level=logging.ERROR):
            self.assertNothingCreated(self.call('POST', body={'ref': 'E-1', 'name': None}), 400, "'name'", 'null',
                                      line=self.line('name'))
            self.assertNothingCreated(self.call('POST', body={'ref': 'E-1'}), 400, "'name'", 'required')

    def test_duplicate_identifier_is_a_conflict(self):
        self.call('POST', body={'ref': 'D-1', 'name': 'First'})
        self.assertNothingCreated(self.call('POST', body={'ref': 'D-1', 'name': 'Second'}), 409, 'D-1')


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestInboundAccess(InboundCase):

    def test_missing_or_near_miss_credentials(self):
        for auth in (None, (LOGIN, PASSWORD[:-1]), (LOGIN, PASSWORD + 'x'), ('crm2', PASSWORD)):
            with self.subTest(auth=auth):
                response = self.call('GET', auth=auth)
                self.assertError(response, 401, 'credentials')
                self.assertEqual(response.headers['WWW-Authenticate'],
                                 'Basic realm="/bj_api_sync/v1/partners", charset="UTF-8"')

    def test_bearer_token(self):
        self.config.write({'auth_type': 'bearer', 'bearer_token': 'tok-0123456789'})
        self.assertEqual(self.call('GET', auth=None, headers={'Authorization': 'Bearer tok-0123456789'}).status_code, 200)
        for header in ('Bearer tok-012345678', 'Bearer tok-01234567890', 'Basic tok-0123456789', ''):
            response = self.call('GET', auth=None, headers={'Authorization': header})
            self.assertError(response, 401)
            self.assertEqual(response.headers['WWW-Authenticate'], 'Bearer realm="/bj_api_sync/v1/partners"')

    def test_api_key_in_a_header_or_the_query_string(self):
        self.config.write({'auth_type': 'api_key', 'api_key_name': 'X-Partner-Key', 'api_key_value': 'key-0123456789'})
        self.assertEqual(self.call('GET', auth=None, headers={'X-Partner-Key': 'key-0123456789'}).status_code, 200)
        self.assertError(self.call('GET', auth=None, headers={'X-Partner-Key': 'key-012345678'}), 401)
        self.config.api_key_location = 'query'
        self.assertEqual(self.call('GET', auth=None, params={'X-Partner-Key': 'key-0123456789'}).status_code, 200)
        self.assertNotIn('key-0123456789', self.last_log().url)
        self.assertError(self.call('GET', auth=None, headers={'X-Partner-Key': 'key-0123456789'}), 401)

    def signed(self, body, secret=SECRET, timestamp=None, message_id='msg_1'):
        payload = json.dumps(body).encode()
        headers = signing.headers([secret], message_id, payload, timestamp)
        return {'data': payload, 'headers': {**headers, 'Content-Type': 'application/json'}}

    def test_standard_webhooks_signature(self):
        self.config.write({'auth_type': 'none', 'sign_requests': True, 'signing_secret': SECRET})
        self.assertEqual(self.call('POST', auth=None, **self.signed({'ref': 'SG-1', 'name': 'Signed'})).status_code, 201)
        unsigned = self.call('POST', auth=None, body={'ref': 'SG-2', 'name': 'Unsigned'})
        self.assertError(unsigned, 401, 'not signed')
        self.assertIn('Webhook-Signature', unsigned.headers['WWW-Authenticate'])
        self.assertError(self.call('POST', auth=None, **self.signed({'name': 'Old'}, timestamp=int(time.time()) - 600)),
                         401, 'expired')
        other = 'whsec_' + base64.b64encode(b'another-key-0123456789abcdefghij').decode()
        self.assertError(self.call('POST', auth=None, **self.signed({'name': 'Forged'}, secret=other)), 401, 'does not match')
        tampered = self.signed({'name': 'Tampered'})
        tampered['data'] = json.dumps({'name': 'Tampered!'}).encode()
        self.assertError(self.call('POST', auth=None, **tampered), 401, 'does not match')
        self.assertEqual(self.partners(name='Signed').name, 'Signed')
        self.assertFalse(self.partners(name='Tampered!'))

    def test_a_rotated_signing_secret_is_accepted_until_its_date(self):
        new = 'whsec_' + base64.b64encode(b'rotated-signing-key-0123456789ab').decode()
        self.config.write({'auth_type': 'none', 'sign_requests': True, 'signing_secret': new,
                           'signing_secret_previous': SECRET,
                           'signing_secret_previous_until': datetime.datetime.now() + datetime.timedelta(days=1)})
        self.assertEqual(self.call('POST', auth=None, **self.signed({'ref': 'RK-1', 'name': 'Old key'})).status_code, 201)
        self.assertEqual(self.call('POST', auth=None, **self.signed({'ref': 'RK-2', 'name': 'New key'},
                                                                    secret=new)).status_code, 201)
        self.config.signing_secret_previous_until = datetime.datetime.now() - datetime.timedelta(minutes=1)
        self.assertError(self.call('POST', auth=None, **self.signed({'name': 'Too late'})), 401, 'does not match')
        self.assertFalse(self.partners(name='Too late'))

    def test_a_record_outside_the_domain_answers_404(self):
        company = self.env['res.partner'].create({'name': 'A company', 'ref': 'CO-1', 'is_company': True})
        for method in ('GET', 'PUT', 'DELETE'):
            with self.subTest(method=method):
                self.assertError(self.call(method, '/CO-1', body={'name': 'x'} if method == 'PUT' else None), 404)
        self.assertTrue(company.exists())
        self.assertEqual(company.name, 'A company')
        self.assertFalse(self.call('GET', params={'ref': 'CO-1'}).json()['items'])

    def test_a_record_written_outside_the_domain_is_refused(self):
        self.config.line_ids = [(0, 0, {'api_key': 'company', 'field_path': 'is_company'})]
        self.assertError(self.call('POST', body={'name': 'New company', 'ref': 'CO-2', 'company': True}), 400, 'outside')
        self.assertFalse(self.partners(ref='CO-2'))
        self.call('POST', body={'name': 'Person', 'ref': 'PE-1'})
        self.assertError(self.call('PUT', '/PE-1', body={'company': True}), 400, 'outside')
        self.assertFalse(self.partners(ref='PE-1').is_company)

    def test_the_user_lacking_rights_gets_403_and_nothing_is_written(self):
        self.user.write({USER_GROUPS: [Command.unlink(self.env.ref('base.group_partner_manager').id)]})
        count = self.env['res.partner'].search_count([])
        self.assertError(self.call('POST', body={'ref': 'NA-1', 'name': 'Not allowed'}), 403)
        self.assertEqual(self.env['res.partner'].search_count([]), count)
        partner = self.env['res.partner'].create({'name': 'Readable', 'ref': 'R-1'})
        self.assertEqual(self.call('GET', '/R-1').status_code, 200)
        self.assertError(self.call('PUT', '/R-1', body={'name': 'Changed'}), 403)
        self.assertEqual(partner.name, 'Readable')

    def test_record_rules_apply_to_the_inbound_user(self):
        group = self.env['res.groups'].create({'name': 'BJ inbound EU only'})
        self.user.write({USER_GROUPS: [Command.link(group.id)]})
        self.env['ir.rule'].create({
            'name': 'BJ inbound: EU partners', 'model_id': self.env['ir.model']._get('res.partner').id,
            'groups': [(6, 0, group.ids)], 'domain_force': "[('ref', '=like', 'EU-%')]"})
        self.env['res.partner'].create([{'name': 'Europe', 'ref': 'EU-1'}, {'name': 'America', 'ref': 'US-1'}])
        self.assertEqual(self.call('GET', '/EU-1').status_code, 200)
        self.assertError(self.call('GET', '/US-1'), 404)
        self.assertError(self.call('DELETE', '/US-1'), 404)
        self.assertEqual([item['ref'] for item in self.call('GET', params={'ref': ['EU-1', 'US-1']}).json()['items']],
                         ['EU-1'])
        self.assertError(self.call('POST', body={'name': 'Asia', 'ref': 'AS-1'}), 403)
        self.assertFalse(self.partners(ref='AS-1'))

    def test_an_identifier_is_unique_beyond_what_the_user_sees(self):
        # Like a unique key of the database: a record the endpoint's user may not see still has its identifier.
        group = self.env['res.groups'].create({'name': 'BJ inbound: no hidden people'})
        self.user.write({USER_GROUPS: [Command.link(group.id)]})
        self.env['ir.rule'].create({
            'name': 'BJ inbound: hidden people', 'model_id': self.env['ir.model']._get('res.partner').id,
            'groups': [(6, 0, group.ids)], 'domain_force': "[('name', '!=', 'Hidden')]"})
        self.env['res.partner'].create({'name': 'Hidden', 'ref': 'H-1'})
        self.assertError(self.call('GET', '/H-1'), 404)
        self.assertError(self.call('POST', body={'name': 'Visible', 'ref': 'H-1'}), 409, 'H-1')
        self.assertEqual(len(self.partners(ref='H-1')), 1)

    def test_rate_limit_answers_429_with_retry_after(self):
        self.config.rate_limit = 2
        answers = [self.call('GET') for _attempt in range(4)]
        self.assertEqual([answer.status_code for answer in answers[:2]], [200, 200])
        limited = answers[2]
        self.assertError(limited, 429, 'Too many requests')
        self.assertGreaterEqual(int(limited.headers['Retry-After']), 1)


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestInboundIdempotency(InboundCase):

    def test_a_repeated_post_returns_the_first_answer_and_creates_nothing(self):
        headers = {'Idempotency-Key': 'order-7'}
        first = self.call('POST', body={'ref': 'I-1', 'name': 'Once'}, headers=headers)
        again = self.call('POST', body={'ref': 'I-1', 'name': 'Once'}, headers=headers)
        self.assertEqual((first.status_code, again.status_code), (201, 201))
        self.assertEqual(again.json(), first.json())
        self.assertEqual(again.headers['Idempotent-Replayed'], 'true')
        self.assertEqual(again.headers['Location'], first.headers['Location'])
        self.assertEqual(len(self.partners(ref='I-1')), 1)
        self.assertError(self.call('POST', body={'ref': 'I-2', 'name': 'Other'}, headers=headers), 422)
        self.assertFalse(self.partners(ref='I-2'))

    def test_a_refused_post_keeps_no_key(self):
        headers = {'Idempotency-Key': 'order-8'}
        self.assertError(self.call('POST', body={'name': 5}, headers=headers), 400)
        self.assertEqual(self.call('POST', body={'name': 5}, headers=headers).status_code, 400)
        self.assertFalse(self.env['bj.api.sync.idempotency'].search([('key', '=', 'order-8')]))

    def test_keys_expire_after_a_day(self):
        headers = {'Idempotency-Key': 'order-9'}
        self.call('POST', body={'ref': 'I-9', 'name': 'Day one'}, headers=headers)
        key = self.env['bj.api.sync.idempotency'].search([('key', '=', 'order-9')])
        self.env.cr.execute("UPDATE bj_api_sync_idempotency SET create_date = create_date - interval '25 hours' "
                            "WHERE id = %s", key.ids)
        self.partners(ref='I-9').ref = 'I-9-old'
        self.assertEqual(self.call('POST', body={'ref': 'I-9', 'name': 'Day one'}, headers=headers).status_code, 201)
        self.assertEqual(len(self.partners(ref='I-9')), 1)
        self.env['bj.api.sync.idempotency']._gc_expired_keys()
        self.assertEqual(len(self.env['bj.api.sync.idempotency'].search([('key', '=', 'order-9')])), 1)


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestInboundConfig(InboundCase):

    def test_endpoint_names_are_checked_and_unique(self):
        for endpoint in ('Partners', 'a b', 'a/b', 'a.json', ''):
            with self.subTest(endpoint=endpoint), self.assertRaises(ValidationError):
                self.config.copy({'endpoint': endpoint or False, 'active': True})
        with self.assertRaises(ValidationError):
            self.config.copy({'endpoint': 'partners'})
        self.assertTrue(self.config.copy({'endpoint': 'partners', 'active': False}))

    def test_inbound_settings_are_checked(self):
        for values, words in (({'inbound_user_id': False}, 'user'), ({'inbound_user_id': 1}, 'superuser'),
                              ({'auth_type': 'oauth2', 'oauth2_token_url': 'https://a.example/t',
                                'oauth2_client_id': 'x'}, 'OAuth2'),
                              ({'http_method_ids': [(6, 0, [])]}, 'allows one or more'),
                              ({'page_size': 5000}, '1000')):
            with self.subTest(values=values), self.assertRaisesRegex(ValidationError, words):
                with self.env.cr.savepoint():
                    self.config.write(values)

    def test_python_and_constant_lines_write_single_fields(self):
        with self.assertRaisesRegex(ValidationError, 'not a field that can be written'):
            self.line('source').field_path = 'country_id.code'

    def test_curl_examples_name_every_method_and_no_secret(self):
        examples = self.config.inbound_examples
        self.assertEqual([line.split()[2] for line in examples.splitlines()],
                         ['GET', 'POST', 'PUT', 'GET', 'PUT', 'DELETE'])
        self.assertIn("-u crm:PASSWORD", examples)
        self.assertIn('/bj_api_sync/v1/partners/ID', examples)
        self.assertNotIn(PASSWORD, examples)
        self.assertTrue(self.config.inbound_url.endswith('/bj_api_sync/v1/partners'))

    def test_openapi_document_is_published_only_when_enabled(self):
        self.assertError(self.call('GET', endpoint='openapi.json', auth=None), 404)
        self.env['ir.config_parameter'].sudo().set_param('bj_api_sync.publish_openapi', 'True')
        document = self.call('GET', endpoint='openapi.json', auth=None).json()
        self.assertEqual(document['openapi'], '3.1.0')
        self.assertEqual(set(document['paths']), {'/partners', '/partners/{id}'})
        self.assertEqual(set(document['paths']['/partners']), {'get', 'post', 'put'})
        self.assertEqual(set(document['paths']['/partners/{id}']) - {'parameters'}, {'get', 'put', 'delete'})
        schemas = document['components']['schemas']
        self.assertEqual(schemas['Partners']['properties']['address']['properties']['city']['type'], ['string', 'null'])
        self.assertIn('odoo_id', schemas['Partners']['required'])
        self.assertNotIn('odoo_id', schemas['PartnersInput']['properties'], "a read-only key is not taken")
        self.assertEqual(schemas['PartnersInput']['required'], ['ref', 'name'])
        self.assertEqual(document['components']['securitySchemes']['PartnersAuth'], {'type': 'http', 'scheme': 'basic'})
        self.assertNotIn(PASSWORD, json.dumps(document))

    def test_openapi_download_is_for_administrators(self):
        self.authenticate('admin', 'admin')
        response = self.url_open(f'/bj_api_sync/openapi/{self.config.id}')
        self.assertEqual(response.status_code, 200)
        self.assertEqual(set(response.json()['paths']), {'/partners', '/partners/{id}'})
        self.assertIn('partners.openapi.json', response.headers['Content-Disposition'])
        self.authenticate('bj_inbound', 'bj_inbound')
        self.assertEqual(self.url_open(f'/bj_api_sync/openapi/{self.config.id}').status_code, 404)
        action = self.config.action_download_openapi()
        self.assertEqual(action['url'], f'/bj_api_sync/openapi/{self.config.id}')

    @mute_logger('odoo.addons.bj_api_sync.engine.inbound.front_door')
    def test_no_traceback_leaves_the_server(self):
        self.line('phone').python_code = "1 / 0 if direction == 'in' else ''"
        body = self.assertError(self.call('POST', body={'ref': 'Z-1', 'name': 'x', 'phone': '1'}), 400, 'ZeroDivisionError')
        self.assertNotIn('File "', body['error'])

    def test_a_concurrency_failure_is_retried_by_odoo_then_answered_503(self):
        call = inbound._Call(self.env, self.config._inbound_endpoint('partners'), None, None)
        conflict = psycopg2.errors.SerializationFailure()
        with self.assertRaises(psycopg2.errors.SerializationFailure):
            call._error_answer(conflict, last_try=False)
        answer = call._error_answer(conflict, last_try=True)
        self.assertEqual((answer.status, answer.headers), (503, {'Retry-After': '1'}))
        self.assertEqual(answer.body['status_code'], 503)
