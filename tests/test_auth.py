"""Authentication and transport security: API keys, TLS verification with extra CAs, mutual TLS,
signing secret rotation. The HTTPS servers and their certificates are made inside the tests."""
import base64
import datetime
import hashlib
import hmac
import json
import logging
from urllib.parse import parse_qsl

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from ..engine.outbound.front_door import Outbound
from . import certs
from .common import BjApiCase, FakeApi, Reply, free_port_url

SIGNING = 'whsec_' + base64.b64encode(b'current-signing-key-0123456789').decode()
PREVIOUS = 'whsec_' + base64.b64encode(b'previous-signing-key-987654321').decode()


def verify_signature(secret, received):
    """What a receiver does (Standard Webhooks): recompute, compare with any of the signatures."""
    key = base64.b64decode(secret.removeprefix('whsec_'))
    signed = f"{received.headers['webhook-id']}.{received.headers['webhook-timestamp']}.".encode() + received.body
    expected = 'v1,' + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return expected in received.headers['webhook-signature'].split(' ')


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestApiKeyAndSigning(BjApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env['res.partner'].create({'name': 'Keyed', 'email': 'keyed@example.com'})

    def test_api_key_in_a_header(self):
        config = self.make_config(lines=[('name', 'name')], auth_type='api_key', api_key_value='key-in-header-123')
        result = config._make_outbound_http_request(self.partner, config.id)
        self.assertTrue(result['success'], result)
        self.assertEqual(self.api.received[0].headers['X-API-Key'], 'key-in-header-123')
        self.assert_no_secret_stored(config, 'key-in-header-123')

    def test_api_key_in_the_query_string_is_masked_in_logged_urls(self):
        config = self.make_config(lines=[('name', 'name')], auth_type='api_key', api_key_location='query',
                                  api_key_name='api_key', api_key_value='key/in query+1',
                                  url=self.api.url('/items?version=2'))
        result = config._make_outbound_http_request(self.partner, config.id)
        self.assertTrue(result['success'], result)
        [received] = self.api.received
        self.assertEqual(received.query_dict, {'version': '2', 'api_key': 'key/in query+1'})
        self.assertNotIn('X-API-Key', received.headers)
        [log] = self.logs(config)
        self.assertIn('api_key=***', log.url)
        self.assert_no_secret_stored(config, 'key/in query+1', 'key%2Fin+query%2B1')
        preview = self.env['bj.api.sync.preview.wizard'].create({'config_id': config.id, 'res_id': self.partner.id})
        self.assertIn('api_key=***', preview.preview_url)

    def test_api_key_never_reaches_the_server_log_at_debug_level(self):
        config = self.make_config(lines=[('name', 'name')], auth_type='api_key', api_key_location='query',
                                  api_key_name='api_key', api_key_value='debug-level-key-42')
        with self.assertLogs(level='DEBUG') as captured:
            logging.getLogger('urllib3').setLevel(logging.DEBUG)
            try:
                config._make_outbound_http_request(self.partner, config.id)
            finally:
                logging.getLogger('urllib3').setLevel(logging.NOTSET)
        text = '\n'.join(captured.output)
        self.assertIn('/api/items?', text)
        self.assertNotIn('debug-level-key-42', text)

    def test_api_key_name_must_be_a_header_name(self):
        with self.assertRaises(ValidationError):
            self.make_config(lines=[('name', 'name')], auth_type='api_key', api_key_name='X Key: 1', api_key_value='k')

    def test_rotation_sends_both_signatures_until_the_date(self):
        until = datetime.datetime.now() + datetime.timedelta(days=1)
        config = self.make_config(lines=[('name', 'name')], sign_requests=True, signing_secret=SIGNING,
                                  signing_secret_previous=PREVIOUS, signing_secret_previous_until=until)
        config._make_outbound_http_request(self.partner, config.id)
        [received] = self.api.received
        self.assertEqual(len(received.headers['webhook-signature'].split(' ')), 2)
        self.assertTrue(verify_signature(SIGNING, received))
        self.assertTrue(verify_signature(PREVIOUS, received))
        # Once the date has passed, only the current secret signs.
        config.signing_secret_previous_until = datetime.datetime.now() - datetime.timedelta(minutes=1)
        config._make_outbound_http_request(self.partner, config.id)
        latest = self.api.received[-1]
        self.assertEqual(len(latest.headers['webhook-signature'].split(' ')), 1)
        self.assertTrue(verify_signature(SIGNING, latest))
        self.assertFalse(verify_signature(PREVIOUS, latest))
        self.assert_no_secret_stored(config, SIGNING, PREVIOUS)


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestTls(BjApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env['res.partner'].create({'name': 'Over TLS'})
        cls.ca = certs.issue('BJ Test CA', ca=True)
        cls.server_cert = certs.issue('127.0.0.1', issuer=cls.ca, server=True)
        cls.client = certs.issue('odoo-client', issuer=cls.ca, client=True)
        cls.https = FakeApi(certs.server_context(cls.server_cert)).start()
        cls.addClassCleanup(cls.https.stop)
        cls.mutual = FakeApi(certs.server_context(cls.server_cert, client_ca=cls.ca)).start()
        cls.addClassCleanup(cls.mutual.stop)

    def setUp(self):
        super().setUp()
        self.https.reset()
        self.mutual.reset()

    def send(self, api, **values):
        config = self.make_config(lines=[('name', 'name')], url=api.url('/secure'), max_retries=0, **values)
        return config, config._make_outbound_http_request(self.partner, config.id)

    def test_a_server_signed_by_an_unknown_ca_is_refused_unless_its_ca_is_configured(self):
        _config, result = self.send(self.https)
        self.assertFalse(result['success'])
        self.assertRegex(result['errors'][0], r'^TLS handshake with 127\.0\.0\.1:\d+ failed: .*certificate verify failed')
        self.assertEqual(self.https.received, [])

        _config, result = self.send(self.https, tls_ca_bundle=self.ca.cert_pem)
        self.assertTrue(result['success'], result)
        self.assertEqual([r.json for r in self.https.received], [{'name': 'Over TLS'}])

    def test_verification_can_be_turned_off_for_a_test_server(self):
        _config, result = self.send(self.https, tls_verify=False)
        self.assertTrue(result['success'], result)

    def test_mutual_tls_accepted_with_the_right_certificate_refused_without(self):
        _config, result = self.send(self.mutual, tls_ca_bundle=self.ca.cert_pem)
        self.assertFalse(result['success'])
        self.assertEqual(self.mutual.received, [])

        config, result = self.send(self.mutual, tls_ca_bundle=self.ca.cert_pem,
                                   tls_client_cert=self.client.cert_pem, tls_client_key=self.client.key_pem)
        self.assertTrue(result['success'], result)
        self.assertEqual(len(self.mutual.received), 1)
        key_body = ''.join(self.client.key_pem.splitlines()[1:-1])
        self.assert_no_secret_stored(config, key_body[:40])

    def test_test_authentication_checks_the_tls_handshake_and_sends_no_record(self):
        config = self.make_config(lines=[('name', 'name')], url=self.mutual.url('/secure'),
                                  tls_ca_bundle=self.ca.cert_pem)
        action = config.action_test_authentication()
        self.assertEqual(action['params']['type'], 'danger', action['params']['message'])
        config.write({'tls_client_cert': self.client.cert_pem, 'tls_client_key': self.client.key_pem})
        action = config.action_test_authentication()
        self.assertEqual(action['params']['type'], 'success', action['params']['message'])
        self.assertIn('TLS handshake with https://127.0.0.1:', action['params']['message'])
        self.assertEqual(self.mutual.received, [], "no record was sent (HEAD / is not even recorded)")

    def test_certificates_are_checked_when_saved(self):
        other = certs.issue('other-client', issuer=self.ca, client=True)
        expired = certs.issue('old-client', issuer=self.ca, client=True, days=-1, not_before_days=-30)
        cases = [
            ({'tls_client_cert': self.client.cert_pem, 'tls_client_key': other.key_pem}, 'does not match'),
            ({'tls_client_cert': expired.cert_pem, 'tls_client_key': expired.key_pem}, 'expired'),
            ({'tls_client_cert': self.client.cert_pem}, 'both'),
            ({'tls_client_cert': 'not a certificate', 'tls_client_key': self.client.key_pem}, 'not a PEM certificate'),
            ({'tls_ca_bundle': 'garbage'}, 'CA certificates'),
        ]
        for values, fragment in cases:
            with self.subTest(fragment=fragment), self.assertRaises(ValidationError) as caught:
                self.make_config(name='Checked TLS', lines=[('name', 'name')], **values)
            self.assertIn('Checked TLS', str(caught.exception))
            self.assertIn(fragment, str(caught.exception))
            self.assertNotIn(other.key_pem[40:80], str(caught.exception))

    def test_client_key_is_a_secret_field(self):
        described = self.env['bj.api.sync.config'].fields_get(['tls_client_key', 'api_key_value',
                                                               'signing_secret_previous'],
                                                              ['searchable', 'groupable', 'exportable'])
        for name, description in described.items():
            self.assertEqual(description, {'searchable': False, 'groupable': False, 'exportable': False}, name)
        self.assertEqual(json.loads(json.dumps(described))['tls_client_key']['exportable'], False)


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestOAuth2(BjApiCase):
    """OAuth2 client credentials against a token endpoint started by the test."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env['res.partner'].create({'name': 'OAuth Partner'})
        cls.tokens = FakeApi().start()
        cls.addClassCleanup(cls.tokens.stop)

    def setUp(self):
        super().setUp()
        self.tokens.reset()
        self.tokens.default = Reply(200, {'access_token': 'access-token-1', 'token_type': 'Bearer', 'expires_in': 3600})
        self.env['bj.api.sync.token'].sudo().search([]).unlink()
        # The token cache is written in a transaction of its own: here, inside the test's.
        self.enterContext(self.shared_cursors())

    def oauth_config(self, **values):
        return self.make_config(lines=[('name', 'name')], auth_type='oauth2', max_retries=0, **{
            'oauth2_token_url': self.tokens.url('/oauth/token'), 'oauth2_client_id': 'client-1',
            'oauth2_client_secret': 'client-secret-XYZ', 'oauth2_scope': 'crm.write', **values})

    def call(self, config):
        return config._make_outbound_http_request(self.partner, config.id)

    def test_one_token_serves_many_requests_across_transactions_and_dispatchers(self):
        config = self.oauth_config(oauth2_audience='https://api.example.com')
        for _attempt in range(3):
            self.assertTrue(self.call(config)['success'])
        # Another reading of the config (another transaction, worker or server) finds the cached token.
        self.assertTrue(Outbound(config.sudo()).deliver(Outbound(config.sudo()).plan(self.partner))['success'])
        config._make_outbound_http_request(self.partner, config.id, queued=True)
        self.env['bj.api.sync.job']._cron_dispatch()
        self.assertEqual(len(self.tokens.received), 1)
        [token_request] = self.tokens.received
        form = dict(token_request.query) or dict(parse_qsl(token_request.body.decode()))
        self.assertEqual(form, {'grant_type': 'client_credentials', 'scope': 'crm.write',
                                'audience': 'https://api.example.com'})
        basic = base64.b64encode(b'client-1:client-secret-XYZ').decode()
        self.assertEqual(token_request.headers['Authorization'], f'Basic {basic}')
        self.assertEqual({r.headers['Authorization'] for r in self.api.received}, {'Bearer access-token-1'})
        self.assertEqual(len(self.api.received), 5)
        self.assertTrue(config.oauth2_token_expires_at)
        self.assert_no_secret_stored(config, 'client-secret-XYZ', 'access-token-1', 'access-token-2')

    def test_client_credentials_in_the_body(self):
        config = self.oauth_config(oauth2_client_auth='body')
        self.assertTrue(self.call(config)['success'])
        [token_request] = self.tokens.received
        form = dict(parse_qsl(token_request.body.decode()))
        self.assertEqual((form['client_id'], form['client_secret']), ('client-1', 'client-secret-XYZ'))
        self.assertNotIn('Authorization', token_request.headers)

    def test_an_expired_token_is_renewed(self):
        config = self.oauth_config()
        self.tokens.default = Reply(200, {'access_token': 'access-token-1', 'expires_in': 30})
        self.call(config)
        self.tokens.default = Reply(200, {'access_token': 'access-token-2', 'expires_in': 3600})
        self.call(config)
        self.assertEqual(len(self.tokens.received), 2)
        self.assertEqual(self.api.received[-1].headers['Authorization'], 'Bearer access-token-2')

    def test_a_401_gives_exactly_one_attempt_with_a_fresh_token(self):
        config = self.oauth_config()
        self.call(config)
        self.tokens.default = Reply(200, {'access_token': 'access-token-2', 'expires_in': 3600})
        self.api.reply(Reply(401, {'error': 'token revoked'}))
        result = self.call(config)
        self.assertTrue(result['success'], result)
        self.assertEqual([r.headers['Authorization'] for r in self.api.received],
                         ['Bearer access-token-1', 'Bearer access-token-1', 'Bearer access-token-2'])
        self.assertEqual(len(self.tokens.received), 2)
        # A second 401 with the fresh token is final: no third token, no loop.
        self.api.default = Reply(401)
        result = self.call(config)
        self.assertFalse(result['success'])
        self.assertEqual(len(self.tokens.received), 3)
        self.assertEqual(len(self.api.received), 5)
        self.assert_no_secret_stored(config, 'client-secret-XYZ', 'access-token-1', 'access-token-2')

    def test_token_endpoint_refusing_the_client_sends_nothing(self):
        self.tokens.default = Reply(400, {'error': 'invalid_client', 'echo': 'client-secret-XYZ'})
        config = self.oauth_config()
        result = self.call(config)
        self.assertFalse(result['success'])
        self.assertEqual(self.api.received, [])
        self.assertIn('answered HTTP 400', result['errors'][0])
        self.assertIn('invalid_client', result['errors'][0])
        self.assertNotIn('client-secret-XYZ', result['errors'][0])
        [log] = self.logs(config)
        self.assertEqual(log.status, 'error')
        self.assert_no_secret_stored(config, 'client-secret-XYZ', 'access-token-1', 'access-token-2')

    def test_token_endpoint_down_sends_nothing_and_says_so(self):
        config = self.oauth_config(oauth2_token_url=free_port_url('/oauth/token'))
        result = self.call(config)
        self.assertFalse(result['success'])
        self.assertEqual(self.api.received, [])
        self.assertRegex(result['errors'][0], r'^OAuth2 token endpoint: Connection refused by 127\.0\.0\.1:\d+$')

    def test_test_authentication_gets_a_token_and_sends_no_record(self):
        config = self.oauth_config()
        action = config.action_test_authentication()
        self.assertEqual(action['params']['type'], 'success')
        self.assertEqual(len(self.tokens.received), 1)
        self.assertEqual(self.api.received, [])
        self.tokens.default = Reply(401, {'error': 'invalid_client'})
        action = config.action_test_authentication()
        self.assertEqual(action['params']['type'], 'danger')
        self.assertIn('invalid_client', action['params']['message'])

    def test_preview_shows_the_auth_applied_masked(self):
        config = self.oauth_config()
        wizard = self.env['bj.api.sync.preview.wizard'].create({'config_id': config.id, 'res_id': self.partner.id})
        self.assertIn('"Authorization": "Bearer ***"', wizard.preview_headers)
        self.assertNotIn('access-token-1', wizard.preview_headers)
