"""Authentication and transport security: API keys, TLS verification with extra CAs, mutual TLS,
signing secret rotation. The HTTPS servers and their certificates are made inside the tests."""
import base64
import datetime
import hashlib
import hmac
import json

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from . import certs
from .common import BjApiCase, FakeApi

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

    def assert_no_secret_logged(self, config, *secrets):
        self.env.flush_all()
        self.env.cr.execute("SELECT row_to_json(log)::text FROM bj_api_log AS log WHERE config_id = %s", [config.id])
        rows = [row for (row,) in self.env.cr.fetchall()]
        self.assertTrue(rows)
        for row in rows:
            for secret in secrets:
                self.assertNotIn(secret, row)

    def test_api_key_in_a_header(self):
        config = self.make_config(lines=[('name', 'name')], auth_type='api_key', api_key_value='key-in-header-123')
        result = config._make_outbound_http_request(self.partner, config.id)
        self.assertTrue(result['success'], result)
        self.assertEqual(self.api.received[0].headers['X-API-Key'], 'key-in-header-123')
        self.assert_no_secret_logged(config, 'key-in-header-123')

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
        self.assert_no_secret_logged(config, 'key/in query+1', 'key%2Fin+query%2B1')
        preview = self.env['bj.api.sync.preview.wizard'].create({'config_id': config.id, 'res_id': self.partner.id})
        self.assertIn('api_key=***', preview.preview_url)

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
        self.assert_no_secret_logged(config, SIGNING, PREVIOUS)


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
        self.env.flush_all()
        self.env.cr.execute("SELECT row_to_json(log)::text FROM bj_api_log AS log WHERE config_id = %s", [config.id])
        key_body = ''.join(self.client.key_pem.splitlines()[1:-1])
        for (row,) in self.env.cr.fetchall():
            self.assertNotIn(key_body[:40], row)

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
