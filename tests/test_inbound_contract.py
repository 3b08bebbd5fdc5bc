"""The inbound contract (docs/reference.md, "Inbound endpoints"): every answer is what the endpoint's OpenAPI
document says, validated with jsonschema_rs (scripts/test-requirements.txt); what a client gets wrong is a 4xx
JSON answer and no ERROR line in the server log; the batch upsert; requests with one Idempotency-Key, or one identifier, at once."""
import json
import logging
import threading
from unittest.mock import patch

import jsonschema_rs
from werkzeug.datastructures import Headers, MultiDict

from odoo import SUPERUSER_ID, api
from odoo.fields import Command
from odoo.modules.registry import Registry
from odoo.service.model import MAX_TRIES_ON_CONCURRENCY_FAILURE, PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tests import TransactionCase, tagged

from ..compat import USER_GROUPS
from ..engine.inbound import front_door as inbound
from ..engine.inbound import openapi
from ..engine.inbound.reverse import IDENTIFIER_PATTERN
from ..models.bj_api_sync_identifier_claim import claim_key
from .test_inbound import InboundCase

ITEM = '/partners/{id}'
COLLECTION = '/partners'


class ContractCase(InboundCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.config.http_method_ids = cls.methods('get', 'post', 'put', 'patch', 'delete')

    def document(self):
        return openapi.document(self.config, self.base_url())

    def assertDocumented(self, document, template, method, response):
        """``response`` is one of the answers the document gives the operation: its status, content type,
        required headers and body."""
        operation = document['paths'][template][method.lower()]
        status = str(response.status_code)
        self.assertIn(status, operation['responses'], f"{method} {template}: {status} is not documented")
        documented = operation['responses'][status]
        for name, header in documented.get('headers', {}).items():
            if header.get('required'):
                self.assertIn(name, response.headers)
        if 'content' not in documented:
            self.assertNotIn('Content-Type', response.headers)
            self.assertEqual(response.content, b'')
            return
        self.assertEqual(response.headers['Content-Type'].split(';')[0], 'application/json')
        schema = documented['content']['application/json']['schema']
        validator = jsonschema_rs.validator_for({**schema, 'components': document['components']}, validate_formats=True)
        errors = [str(error) for error in validator.iter_errors(response.json())]
        self.assertEqual(errors, [], f"{method} {template} {status}: {response.text}")

    def assertTaken(self, document, name, body, taken=True):
        """Whether the document's request schema ``name`` takes ``body``."""
        validator = jsonschema_rs.validator_for({'$ref': f'#/components/schemas/{name}',
                                                 'components': document['components']}, validate_formats=True)
        self.assertEqual(validator.is_valid(body), taken, body)


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestInboundContract(ContractCase):

    def test_every_operation_answers_as_documented(self):
        document = self.document()
        body = {'ref': 'K-1', 'name': 'Olena', 'address': {'city': 'Lviv'}, 'country': 'UA', 'tags': [self.tag.id]}
        self.assertTaken(document, 'PartnersInput', body)
        created = self.call('POST', body=body, headers={'Idempotency-Key': 'k-1'})
        self.assertEqual(created.status_code, 201, created.text)
        self.assertEqual(created.json()['country'], {'code': 'UA', 'name': self.ukraine.name})
        self.assertDocumented(document, COLLECTION, 'POST', created)
        replayed = self.call('POST', body=body, headers={'Idempotency-Key': 'k-1'})
        self.assertDocumented(document, COLLECTION, 'POST', replayed)
        self.assertEqual(replayed.headers['Idempotent-Replayed'], 'true')
        answers = [
            (COLLECTION, 'GET', self.call('GET', params={'country': 'UA', 'limit': 5})),
            (ITEM, 'GET', self.call('GET', '/K-1')),
            (ITEM, 'PUT', self.call('PUT', '/K-1', body={'email': 'olena@example.com', 'country': {'code': 'PL'}})),
            (ITEM, 'PATCH', self.call('PATCH', '/K-1', body={'country': None, 'address': {'city': None}})),
            (COLLECTION, 'PUT', self.call('PUT', body=[{'ref': 'K-1', 'name': 'Olena P.'}, {'ref': 'K-2', 'name': 'Taras'},
                                                       {'ref': 'K-2', 'name': 'Twice'}])),
            (ITEM, 'DELETE', self.call('DELETE', '/K-2')),
            (COLLECTION, 'POST', self.call('POST', data=b'{"ref": ', headers={'Content-Type': 'application/json'})),
            (COLLECTION, 'POST', self.call('POST', body={'ref': 'K-1', 'name': 'Again'})),
            (COLLECTION, 'POST', self.call('POST', data=b'{}', headers={'Content-Type': 'text/plain'})),
            (COLLECTION, 'POST', self.call('POST', body={**body, 'ref': 'K-3'}, headers={'Idempotency-Key': 'k-1'})),
            (COLLECTION, 'GET', self.call('GET', auth=None)),
            (COLLECTION, 'GET', self.call('GET', params={'limit': 0})),
            (ITEM, 'GET', self.call('GET', '/nobody')),
            (ITEM, 'DELETE', self.call('DELETE', '/nobody')),
        ]
        for template, method, response in answers:
            with self.subTest(method=method, template=template, status=response.status_code):
                self.assertDocumented(document, template, method, response)
        self.assertEqual([answer.status_code for _template, _method, answer in answers],
                         [200, 200, 200, 200, 200, 204, 400, 409, 415, 422, 401, 400, 404, 404])

    def test_the_document_lists_what_each_operation_can_answer(self):
        document = self.document()
        statuses = {(path, method): set(operation['responses'])
                    for path, item in document['paths'].items() for method, operation in item.items()
                    if method != 'parameters'}
        common = {'400', '401', '403', '413', '500'}
        self.assertEqual(statuses, {
            (COLLECTION, 'get'): common | {'200'},
            (COLLECTION, 'post'): common | {'201', '409', '415', '422', '503'},
            (COLLECTION, 'put'): common | {'200', '415', '503'},
            (ITEM, 'get'): common | {'200', '404', '409'},
            (ITEM, 'put'): common | {'200', '404', '409', '415', '503'},
            (ITEM, 'patch'): common | {'200', '404', '409', '415', '503'},
            (ITEM, 'delete'): common | {'204', '404', '409', '503'},
        })
        self.config.rate_limit = 5
        self.assertIn('429', self.document()['paths'][COLLECTION]['get']['responses'])

    def test_the_document_types_keys_from_their_fields(self):
        self.config.line_ids = [Command.create(line) for line in (
            {'api_key': 'company', 'field_path': 'is_company'},
            {'api_key': 'color', 'field_path': 'color'},
            {'api_key': 'kind', 'field_path': 'type'},
            {'api_key': 'latitude', 'field_path': 'partner_latitude'},
            {'api_key': 'updated', 'field_path': 'write_date'},
        )]
        document = self.document()
        schemas = document['components']['schemas']
        taken, answered = schemas['PartnersInput'], schemas['Partners']
        self.assertEqual(taken['required'], ['ref', 'name'], "the identifier, and a contact's name (a CHECK constraint)")
        properties = taken['properties']
        self.assertEqual(properties['ref'], {'type': 'string', 'pattern': IDENTIFIER_PATTERN})
        self.assertEqual(properties['company'], {'type': 'boolean'})
        self.assertEqual(properties['color'], {'type': 'integer', 'minimum': -2**31, 'maximum': 2**31 - 1})
        self.assertEqual(properties['latitude'], {'type': 'number', 'exclusiveMinimum': -1000, 'exclusiveMaximum': 1000})
        self.assertIn('contact', properties['kind']['anyOf'][0]['enum'])
        self.assertEqual(properties['kind']['anyOf'][1], {'type': 'null'}, "a selection may be emptied")
        self.assertNotIn('updated', properties, "a read-only key is not taken")
        self.assertIn('UA', properties['country']['anyOf'][0]['anyOf'][0]['enum'], "the sub-mapping's identifiers")
        self.assertEqual(answered['properties']['updated'], {'type': ['string', 'null'], 'format': 'date-time'})
        self.assertEqual(answered['properties']['country']['anyOf'][0]['required'], ['code', 'name'],
                         "a sub-mapping is answered as its object")
        self.assertNotIn('required', schemas['PartnersUpdate'])
        filters = {parameter['name']: parameter['schema']['items']
                   for parameter in document['paths'][COLLECTION]['get']['parameters'] if parameter['name'] != 'limit'
                   and parameter['name'] != 'offset'}
        self.assertEqual(filters['company'], {'type': 'boolean'})
        self.assertIn('UA', filters['country']['enum'])
        self.assertEqual(filters['updated'], {'type': 'string', 'format': 'date-time'})
        links = document['paths'][COLLECTION]['post']['responses']['201']['links']
        self.assertEqual(links['GetCreated'], {'operationId': 'get_partners_item', 'parameters': {'id': '$response.body#/ref'}})
        self.assertEqual(set(links), {'GetCreated', 'PutCreated', 'PatchCreated', 'DeleteCreated'})
        for body, taken_ in (({'ref': 'A', 'name': 'x', 'company': False, 'color': 5.0, 'latitude': 50.45}, True),
                             ({'ref': 'A', 'name': 'x', 'color': 2**31}, False),
                             ({'ref': 'A', 'name': 'x', 'latitude': 1000}, False),
                             ({'ref': 'A', 'name': None}, False),
                             ({'ref': '..', 'name': 'x'}, False),
                             ({'ref': 'INV/2026/1', 'name': 'x'}, True),
                             ({'ref': 'A', 'name': 'x', 'country': 0}, False)):
            with self.subTest(body=body):
                self.assertTaken(document, 'PartnersInput', body, taken_)
                response = self.call('POST', body=body)
                self.assertEqual(response.status_code < 300, taken_, response.text)

    def test_typed_filters_refuse_what_their_type_does_not_take(self):
        self.config.line_ids = [Command.create({'api_key': 'company', 'field_path': 'is_company'})]
        self.call('POST', body={'ref': 'F-1', 'name': 'Person', 'company': False})
        self.assertEqual([item['ref'] for item in self.call('GET', params={'company': 'false', 'ref': 'F-1'}).json()['items']],
                         ['F-1'])
        for params, key in (({'company': ''}, 'company'), ({'company': 'yes'}, 'company'), ({'odoo_id': ''}, 'odoo_id'),
                            ({'odoo_id': '1.5'}, 'odoo_id'), ({'country': 'ZZ'}, "no Country has code 'ZZ'")):
            with self.subTest(params=params):
                self.assertError(self.call('GET', params=params), 400, key)

    def test_an_identifier_is_required_or_assigned(self):
        self.assertError(self.call('POST', body={'name': 'Nameless'}), 400, "'ref'", line=self.line('ref'))
        for ref in ('', '..', 'a/./b', '/a', 'a\nb'):
            with self.subTest(ref=ref):
                self.assertError(self.call('POST', body={'ref': ref, 'name': 'x'}), 400, 'identifier')
        created = self.call('POST', body={'ref': 'INV/2026/0001', 'name': 'With a slash'})
        self.assertEqual(created.headers['Location'], '/bj_api_sync/v1/partners/INV%2F2026%2F0001')
        self.assertEqual(self.call('GET', '/INV%2F2026%2F0001').json()['name'], 'With a slash')
        self.assertEqual(self.call('GET', '/INV/2026/0001').json()['name'], 'With a slash')
        # Identified by the Odoo id (a read-only identifier): assigned, and the answer's Location finds it.
        self.line('ref').is_identifier = False
        self.line('odoo_id').is_identifier = True
        created = self.call('POST', body={'name': 'By id'})
        self.assertEqual(created.status_code, 201, created.text)
        location = created.headers['Location']
        self.assertEqual(location, f"/bj_api_sync/v1/partners/{created.json()['odoo_id']}")
        self.assertEqual(self.call('DELETE', '/' + location.rsplit('/', 1)[1]).status_code, 204)

    def test_a_changed_identifier_must_be_free(self):
        self.call('POST', body={'ref': 'I-1', 'name': 'One'})
        self.call('POST', body={'ref': 'I-2', 'name': 'Two'})
        self.assertError(self.call('PUT', '/I-2', body={'ref': 'I-1'}), 409, 'I-1', line=self.line('ref'))
        self.assertEqual(self.call('PUT', '/I-2', body={'ref': 'I-3'}).json()['ref'], 'I-3')

    def test_a_deleted_record_answers_no_content_type(self):
        self.call('POST', body={'ref': 'D-1', 'name': 'Gone'})
        deleted = self.call('DELETE', '/D-1')
        self.assertEqual((deleted.status_code, deleted.content), (204, b''))
        self.assertNotIn('Content-Type', deleted.headers)


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestInboundClientMistakes(ContractCase):
    """Whatever a client sends wrong is answered 4xx in JSON, and the server log has no ERROR line for it."""

    def test_malformed_input_of_every_kind(self):
        self.call('POST', body={'ref': 'M-1', 'name': 'Target'})
        json_type = {'Content-Type': 'application/json'}
        cases = [
            ('POST', '', b'\x00'), ('PUT', '/M-1', b'\x00'), ('PATCH', '/M-1', b'\x00'), ('PUT', '', b'\x00'),
            ('POST', '', b''), ('PUT', '/M-1', b'not json'),
            ('POST', '', b'{"ref": "M-2", "name": "\xff\xfe"}'),
            ('POST', '', b'{"ref": "M-2", "name": NaN}'),
            ('POST', '', b'{"ref": "M-2", "name": "x", "color": 1e400}'),
            ('POST', '', b'[' * 100000),
            ('POST', '', b'{"ref": "M-2", "name": "\\ud800"}'),
            ('POST', '', b'{"ref": "M-2", "name": "a\\u0000b"}'),
            ('PATCH', '/M-1', b'{"address": {"city": "\\u0000"}}'),
            ('POST', '', b'{"ref": "M-2"}'),
            ('POST', '', b'{"ref": "M-2", "name": null}'),
            ('PUT', '/M-1', b'{"name": null}'),
            ('POST', '', b'{"ref": "M-2", "name": "x", "country": 0}'),
            ('POST', '', b'{"ref": "M-2", "name": "x", "country": {"code": 5}}'),
            ('POST', '', b'{"ref": "M-2", "name": "x", "tags": [1099511627776]}'),
            ('PUT', '', b'{"ref": "M-2"}'),
            ('PUT', '', b'[{"ref": "M-2", "name": "x"}, {"ref": "M-3"}]'),
            ('PUT', '', json.dumps([{'ref': f'M-{number}', 'name': 'x'} for number in range(1001)]).encode()),
        ]
        with self.assertNoLogs(level='ERROR'):
            for method, path, data in cases:
                with self.subTest(method=method, path=path, data=data[:60]):
                    response = self.call(method, path, data=data, headers=json_type)
                    self.assertError(response, 400)
            for path, params in (('/a%00b', None), ('', {'ref': 'a\x00'}), ('', {'limit': '--5'}),
                                 ('', {'offset': str(2**63)})):
                with self.subTest(path=path, params=params):
                    self.assertError(self.call('GET', path, params=params), 400)
            self.assertError(self.call('POST', body={'ref': 'M-4', 'name': 'x'},
                                       headers={'Idempotency-Key': 'k' * 256}), 400, 'Idempotency-Key')
            # Any URL under the endpoint is its own: a line break or a leading "/" in the identifier is a 404 in JSON.
            for path in ('/a%0Ab', '//a', '/a%2F..%2Fb'):
                with self.subTest(path=path):
                    self.assertError(self.call('GET', path), 404)
        self.assertFalse(self.partners(ref='M-2') | self.partners(ref='M-3') | self.partners(ref='M-4'))
        self.assertEqual(self.partners(ref='M-1').name, 'Target')

    def test_values_the_database_refuses_are_a_400_logged_as_info(self):
        # A python line empties the name the body gave: only the database's check can refuse it.
        self.config.line_ids = [Command.create({'api_key': 'nickname', 'field_path': 'name', 'value_type': 'python',
                                                'python_code': "None if direction == 'in' else record.name"})]
        # (Odoo names its level 25 "INFO" too: the level is given as a number.)
        with self.assertNoLogs(level=logging.ERROR), self.assertLogs('odoo.sql_db', level=logging.INFO) as logged:
            response = self.call('POST', body={'ref': 'DB-1', 'name': 'x', 'nickname': 'y'})
        self.assertError(response, 400)
        self.assertIn('bad query', logged.output[0], response.text)
        self.assertFalse(self.partners(ref='DB-1'))

    def test_a_record_still_in_use_is_not_deleted(self):
        company = self.env['res.company'].create({'name': 'BJ inbound company'})
        company.partner_id.write({'ref': 'IN-USE', 'company_id': False, 'is_company': False})
        with self.assertNoLogs(level='ERROR'):
            response = self.call('DELETE', '/IN-USE')
        self.assertIn(response.status_code, (400, 409), response.text)
        self.assertError(response, response.status_code)
        self.assertTrue(company.partner_id.exists())


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestInboundBatch(ContractCase):

    def test_objects_are_created_updated_or_refused_each_on_its_own(self):
        self.call('POST', body={'ref': 'B-1', 'name': 'Existing'})
        outside = self.env['res.partner'].create({'name': 'A company', 'ref': 'B-OUT', 'is_company': True})
        response = self.call('PUT', body=[
            {'ref': 'B-1', 'name': 'Existing, renamed', 'country': 'UA'},
            {'ref': 'B-2', 'name': 'New', 'address': {'city': 'Lviv'}},
            {'ref': 'B-2', 'name': 'New again'},
            {'ref': 'B-OUT', 'name': 'Outside the domain'},
            {'ref': 'B-3', 'name': 'Also new', 'tags': [self.tag.id]},
        ])
        self.assertEqual(response.status_code, 200, response.text)
        answer = response.json()
        self.assertEqual([(item['status'], item['status_code']) for item in answer['items']],
                         [('updated', 200), ('created', 201), ('refused', 409), ('refused', 409), ('created', 201)])
        self.assertEqual((answer['created'], answer['updated'], answer['refused']), (2, 1, 2))
        self.assertEqual(answer['items'][0]['record']['country'], {'code': 'UA', 'name': self.ukraine.name})
        self.assertEqual(set(answer['items'][2]), {'status', 'error', 'status_code', 'line_id'})
        self.assertEqual(answer['items'][2]['line_id'], self.line('ref').id)
        self.assertEqual(self.partners(ref='B-1').name, 'Existing, renamed')
        self.assertEqual(self.partners(ref='B-2').city, 'Lviv')
        self.assertEqual(outside.name, 'A company')
        self.assertEqual(self.last_log().res_ids, ','.join(map(str, (self.partners(ref='B-1') | self.partners(ref='B-2')
                                                                    | self.partners(ref='B-3')).sorted('id').ids)))

    def test_a_failing_object_does_not_stop_the_others(self):
        # The python line empties the name of "Nameless" only: the database refuses that one alone.
        self.config.line_ids = [Command.create({
            'api_key': 'nickname', 'field_path': 'name', 'value_type': 'python',
            'python_code': "None if direction == 'in' and value == 'none' else (value or record.name)"})]
        with self.assertNoLogs(level='ERROR'):
            answer = self.call('PUT', body=[{'ref': 'P-1', 'name': 'One'}, {'ref': 'P-2', 'name': 'x', 'nickname': 'none'},
                                            {'ref': 'P-3', 'name': 'Three'}]).json()
        self.assertEqual([item['status'] for item in answer['items']], ['created', 'refused', 'created'])
        self.assertEqual(answer['items'][1]['status_code'], 400)
        self.assertTrue(self.partners(ref='P-1') and self.partners(ref='P-3'))
        self.assertFalse(self.partners(ref='P-2'))

    def test_a_batch_needs_post_put_and_a_written_identifier(self):
        self.config.http_method_ids = self.methods('get', 'post')
        self.assertError(self.call('PUT', body=[]), 405)
        self.config.http_method_ids = self.methods('get', 'post', 'put')
        self.assertEqual(self.call('PUT', body=[]).json(), {'items': [], 'created': 0, 'updated': 0, 'refused': 0})
        self.line('ref').is_identifier = False
        self.assertError(self.call('PUT', body=[]), 405)
        self.assertNotIn('put', self.document()['paths'][COLLECTION])


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestInboundLanguage(ContractCase):

    def ukrainian(self):
        self.env['res.lang']._activate_lang('uk_UA')
        self.env['ir.module.module']._load_module_terms(['bj_api_sync', 'base'], ['uk_UA'], overwrite=True)
        self.user.lang = 'uk_UA'

    def test_the_document_and_the_errors_speak_the_endpoints_language(self):
        self.ukrainian()
        document = self.document()
        self.assertEqual(document['paths'][COLLECTION]['get']['summary'], f"Список: {self.config.name}")
        error = self.assertError(self.call('POST', body={'ref': 'L-1', 'name': 'x', 'country': 'ZZ'}), 400)['error']
        country = self.env['ir.model'].with_context(lang='uk_UA')._get('res.country').name
        self.assertEqual(error, f"ключ 'country': немає запису «{country}» з code 'ZZ'")

    def test_an_unknown_endpoint_answers_in_the_callers_language(self):
        self.ukrainian()
        english = self.call('GET', endpoint='nowhere').json()['error']
        ukrainian = self.call('GET', endpoint='nowhere', headers={'Accept-Language': 'uk-UA,uk;q=0.9,en;q=0.5'}).json()
        self.assertEqual(english, 'Unknown endpoint.')
        self.assertEqual(ukrainian['error'], 'Невідома кінцева точка.')

    def test_a_new_endpoint_reads_only(self):
        Config = self.env['bj.api.sync.config']
        config = Config.create({'name': 'New endpoint', 'request_type': 'in', 'endpoint': 'fresh',
                                'model_id': self.env['ir.model']._get('res.partner').id,
                                'inbound_user_id': self.user.id})
        self.assertEqual(config.http_method_ids.mapped('name'), ['GET'])
        self.assertEqual(Config.with_context(default_request_type='in')._default_http_method_ids().name, 'GET')
        self.assertEqual(Config._default_http_method_ids().name, 'POST')


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestInboundIdempotencyConcurrency(TransactionCase):
    """POSTs with the same Idempotency-Key, or the same identifier, at the same moment, on committed data:
    one record each, and no ERROR in the log."""

    KEYS, PER_KEY = 3, 4

    def setUp(self):
        super().setUp()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            user = env['res.users'].create({
                'name': 'BJ inbound concurrency', 'login': 'bj_inbound_concurrency',
                USER_GROUPS: [Command.set([env.ref('base.group_user').id, env.ref('base.group_partner_manager').id])]})
            config = env['bj.api.sync.config'].create({
                'name': 'Concurrency endpoint (removed after the test)', 'request_type': 'in',
                'endpoint': 'bj-inbound-concurrency', 'model_id': env['ir.model']._get('res.partner').id,
                'http_method_ids': [Command.set([env.ref('bj_api_sync.http_method_post').id,
                                                 env.ref('bj_api_sync.http_method_put').id])],
                'inbound_user_id': user.id,
                'line_ids': [Command.create({'api_key': 'ref', 'field_path': 'ref', 'is_identifier': True}),
                             Command.create({'api_key': 'name', 'field_path': 'name'})]})
        self.addCleanup(self.remove, config.id, user.id)

    def remove(self, config_id, user_id):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env['res.partner'].with_context(active_test=False).search([('ref', '=like', 'CONC-%')]).unlink()
            cr.execute("DELETE FROM bj_api_log WHERE config_id = %s", [config_id])
            env['bj.api.sync.config'].browse(config_id).unlink()
            user = env['res.users'].browse(user_id)
            partner = user.partner_id
            user.unlink()
            partner.unlink()

    def post(self, key, idempotent=True):
        body = json.dumps({'ref': f'CONC-{key}', 'name': f'Concurrent {key}'}).encode()
        headers = {'Content-Type': 'application/json', **({'Idempotency-Key': key} if idempotent else {})}
        return self.send('POST', body, headers)

    def put_batch(self, keys):
        body = json.dumps([{'ref': f'CONC-{key}', 'name': f'Concurrent {key}'} for key in keys]).encode()
        return self.send('PUT', body, {'Content-Type': 'application/json'})

    def send(self, method, body, headers):
        incoming = inbound.Incoming(
            method=method, path='/bj_api_sync/v1/bj-inbound-concurrency', query_string='', args=MultiDict(),
            headers=Headers(headers), mimetype='application/json', client='127.0.0.1', read=lambda size: body)
        # As Odoo's HTTP layer does: a request that fails to serialize is run again, on a fresh snapshot.
        for tries in range(1, MAX_TRIES_ON_CONCURRENCY_FAILURE + 1):
            with self.registry.cursor() as cr:
                try:
                    return inbound.serve(api.Environment(cr, SUPERUSER_ID, {}), 'bj-inbound-concurrency', None,
                                         incoming, last_try=tries == MAX_TRIES_ON_CONCURRENCY_FAILURE)
                except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
                    cr.rollback()
        raise AssertionError("unreachable: the last try answers")

    def at_once(self, calls):
        """Run ``calls`` (functions of no argument) in threads released together, on committed data, with
        no ERROR logged: their results, in the order of ``calls``."""
        barrier = threading.Barrier(len(calls))
        results, errors = [None] * len(calls), []

        def client(index):
            try:
                barrier.wait(timeout=30)
                results[index] = calls[index]()
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=client, args=(index,)) for index in range(len(calls))]
        # The test runner holds the registries' lock while tests run; an HTTP worker would not.
        with patch.object(Registry, '_lock', threading.RLock()), self.assertNoLogs(level='ERROR'):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
        self.assertFalse(any(thread.is_alive() for thread in threads))
        self.assertEqual(errors, [])
        return results

    def partners_by_ref(self):
        """{ref: how many partners have it} of the partners the requests made (removed after each test)."""
        with self.registry.cursor() as cr:
            cr.execute("SELECT ref, COUNT(*) FROM res_partner WHERE ref LIKE 'CONC-%%' GROUP BY ref")
            return dict(cr.fetchall())

    def test_one_record_per_key_and_the_same_answer_to_all(self):
        keys = [f'key-{number % self.KEYS}' for number in range(self.KEYS * self.PER_KEY)]
        answers = self.at_once([lambda key=key: self.post(key) for key in keys])
        self.assertEqual({answer.status for answer in answers}, {201})
        for number in range(self.KEYS):
            bodies = {json.dumps(answer.body, sort_keys=True)
                      for key, answer in zip(keys, answers, strict=True) if key == f'key-{number}'}
            self.assertEqual(len(bodies), 1, f"one answer for key-{number}")
        self.assertEqual(self.partners_by_ref(), {f'CONC-key-{number}': 1 for number in range(self.KEYS)})

    def test_one_record_per_identifier_without_a_key(self):
        """POSTs giving the same identifier at the same moment, without an Idempotency-Key: one creates,
        the others wait for it, run again and are refused (409); one record per identifier."""
        keys = [f'ident-{number % self.KEYS}' for number in range(self.KEYS * self.PER_KEY)]
        answers = self.at_once([lambda key=key: self.post(key, idempotent=False) for key in keys])
        for number in range(self.KEYS):
            statuses = sorted(answer.status for key, answer in zip(keys, answers, strict=True)
                              if key == f'ident-{number}')
            self.assertEqual(statuses, [201] + [409] * (self.PER_KEY - 1), f"ident-{number}")
        self.assertEqual(self.partners_by_ref(),
                         {f'CONC-ident-{number}': 1 for number in range(self.KEYS)})

    def test_one_record_per_identifier_in_batches_at_once(self):
        """Batches upserting the same identifiers at the same moment, in different orders: each identifier
        is created once and updated by the others."""
        keys = [f'batch-{number}' for number in range(self.KEYS)]
        answers = self.at_once([lambda number=number: self.put_batch(keys[number % self.KEYS:] + keys[:number % self.KEYS])
                                for number in range(self.PER_KEY)])
        self.assertEqual([answer.status for answer in answers], [200] * self.PER_KEY)
        self.assertEqual(sum(answer.body['created'] for answer in answers), self.KEYS)
        self.assertEqual(sum(answer.body['refused'] for answer in answers), 0)
        self.assertEqual(self.partners_by_ref(), {f'CONC-{key}': 1 for key in keys})

    def test_claims_older_than_a_day_are_removed(self):
        Claim = self.env['bj.api.sync.identifier.claim']
        self.assertFalse(Claim.claim('res.partner', 'ref', ['CLAIM-OLD', 'CLAIM-NEW']))
        old, new = (claim_key('res.partner', 'ref', ident) for ident in ('CLAIM-OLD', 'CLAIM-NEW'))
        self.env.cr.execute("UPDATE bj_api_sync_identifier_claim SET claimed_at = claimed_at - interval '25 hours' "
                            "WHERE key = %s", [old])
        Claim.invalidate_model()
        Claim._gc_old_claims()
        self.assertEqual(Claim.search([('key', 'in', [old, new])]).mapped('key'), [new])
