"""An auth type is its class (engine/shared/auth.py, "Adding a type"): a made-up ``Authorization:
Plugin <token>`` scheme, registered for these tests only, with no other file touched, is sent by
outbound requests, guards an inbound endpoint over real HTTP, and is described by the OpenAPI
document and the curl examples."""
from unittest.mock import patch

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from ..engine.shared import auth
from .common import BjApiCase
from .test_inbound import InboundCase

TOKEN = 'plug-0123456789-secret'


class PluginAuth(auth.Auth):
    """``Authorization: Plugin <token>``, the token kept in the config's Bearer Token field."""

    CONFIG_FIELDS = ('bearer_token',)

    def __init__(self, token):
        self.token = token or ''

    @classmethod
    def from_config(cls, config):
        return cls(config.bearer_token)

    @classmethod
    def check(cls, config):
        return None if config.bearer_token else f"{config._label()}: the plugin needs its token."

    def __call__(self, request):
        request.headers['Authorization'] = f"Plugin {self.token}"
        return request

    def secrets(self):
        return [self.token]

    def verify(self, headers, query):
        return bool(self.token) and auth.same(auth.authorization(headers, 'Plugin') or '', self.token)

    def challenge(self, realm):
        return f'Plugin realm="{realm}"'

    def security_scheme(self):
        return {'type': 'http', 'scheme': 'plugin'}

    def curl_arguments(self):
        return ['-H', 'Authorization: Plugin TOKEN'], ''


class OutboundOnlyAuth(PluginAuth):
    """The same scheme, refused for an inbound endpoint."""

    @classmethod
    def inbound_refusal(cls, config):
        return f"{config._label()}: the plugin cannot guard an endpoint."


class PluginRegistered:
    """What adding the type to the addon does, for the test class: its key in AUTH_TYPES and in
    auth_type's selection (the field keeps its values twice: as declared, and as the dict that checks
    a value written)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        field = cls.env['bj.api.sync.config']._fields['auth_type']
        selection = [*field.selection, ('plugin', 'Plugin Token')]
        cls.enterClassContext(patch.dict(auth.AUTH_TYPES, {'plugin': PluginAuth}))
        cls.enterClassContext(patch.multiple(field, selection=selection, _selection=dict(selection)))


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestAuthPluginOutbound(PluginRegistered, BjApiCase):

    def test_requests_carry_its_header(self):
        config = self.make_config(lines=[('name', 'name')], auth_type='plugin', bearer_token=TOKEN)
        partner = self.env['res.partner'].create({'name': 'Plugged partner'})
        result = config._make_outbound_http_request(partner, config.id)
        self.assertTrue(result['success'], result)
        [received] = self.api.received
        self.assertEqual(received.headers['Authorization'], f'Plugin {TOKEN}')
        [log] = self.logs(config)
        self.assertIn('"Authorization": "Plugin ***"', log.request_headers)
        self.assert_no_secret_stored(config, TOKEN)


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestAuthPluginInbound(PluginRegistered, InboundCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.plugged = cls.config.copy({'name': 'Plugged endpoint', 'endpoint': 'plugged', 'auth_type': 'plugin',
                                       'bearer_token': TOKEN, 'http_method_ids': cls.methods('get', 'post')})

    def test_inbound_endpoint_takes_its_credentials_only(self):
        partner = self.env['res.partner'].create({'name': 'Listed', 'ref': 'PL-1'})
        response = self.call('GET', '/PL-1', endpoint='plugged', auth=None, headers={'Authorization': f'Plugin {TOKEN}'})
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()['odoo_id'], partner.id)
        for header in (f'Plugin {TOKEN[:-1]}', f'Bearer {TOKEN}', ''):
            with self.subTest(header=header):
                response = self.call('GET', '/PL-1', endpoint='plugged', auth=None, headers={'Authorization': header})
                self.assertError(response, 401, 'credentials')
                self.assertEqual(response.headers['WWW-Authenticate'], 'Plugin realm="/bj_api_sync/v1/plugged"')
        self.assertError(self.call('GET', '/PL-1', endpoint='plugged'), 401)  # Basic, the other endpoint's
        logs = self.env['bj.api.log'].search([('config_id', '=', self.plugged.id)])
        self.assertEqual(sorted(logs.mapped('response_status_code')), [200, 401, 401, 401, 401])
        self.assertFalse([log for log in logs if TOKEN in log.request_headers])

    def test_openapi_document_has_its_security_scheme(self):
        self.env['ir.config_parameter'].sudo().set_param('bj_api_sync.publish_openapi', 'True')
        response = self.call('GET', endpoint='openapi.json', auth=None)
        self.assertEqual(response.status_code, 200, response.text)
        document = response.json()
        self.assertEqual(document['components']['securitySchemes']['PluggedAuth'], {'type': 'http', 'scheme': 'plugin'})
        self.assertEqual(document['components']['securitySchemes']['PartnersAuth'], {'type': 'http', 'scheme': 'basic'})
        for operation in (document['paths']['/plugged']['get'], document['paths']['/plugged']['post'],
                          document['paths']['/plugged/{id}']['get']):
            self.assertEqual(operation['security'], [{'PluggedAuth': []}])
        self.assertNotIn(TOKEN, response.text)

    def test_curl_examples_have_its_arguments(self):
        lines = self.plugged.inbound_examples.splitlines()
        self.assertEqual([line.split()[2] for line in lines], ['GET', 'POST', 'GET'])
        for line in lines:
            self.assertTrue(line.startswith(f"curl -X {line.split()[2]} -H 'Authorization: Plugin TOKEN' "), line)
        self.assertNotIn(TOKEN, self.plugged.inbound_examples)

    def test_its_checks_when_saved(self):
        with self.assertRaisesRegex(ValidationError, 'the plugin needs its token'), self.env.cr.savepoint():
            self.plugged.bearer_token = False
        with patch.dict(auth.AUTH_TYPES, {'plugin': OutboundOnlyAuth}), \
                self.assertRaisesRegex(ValidationError, 'the plugin cannot guard an endpoint'), self.env.cr.savepoint():
            self.plugged.copy({'endpoint': 'plugged-2'})
