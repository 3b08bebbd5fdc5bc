"""SPEC §6 and the guide's "Обробка помилок" scenarios: what is retried, how long we wait, what is logged."""
import email.utils
import time

from odoo.tests import tagged

from ..engine import transport
from ..engine.transport import Attempt, HttpRequest, RetryPolicy
from .common import BjApiCase, Reply, free_port_url


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestRetries(BjApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env['res.partner'].create({'name': 'Retry Partner', 'email': 'retry@example.com'})

    def _send(self, **values):
        values.setdefault('lines', [('name', 'name'), ('email', 'email')])
        config = self.make_config(**values)
        result = config._make_outbound_http_request(self.partner, config.id)
        return config, result

    def test_5xx_then_success_is_retried(self):
        for status in (500, 502, 503, 504):
            with self.subTest(status=status):
                self.api.reset()
                self.api.reply(Reply(status, {'error': 'server'}))
                config, result = self._send(name=f'retry {status}')
                self.assertTrue(result['success'], result)
                self.assertEqual(result['status_code'], 200)
                self.assertEqual(result['requests'][0]['attempts'], 2)
                self.assertEqual(len(self.api.received), 2)
                self.assertEqual(self.api.received[0].body, self.api.received[1].body)
                logs = self.logs(config)
                self.assertEqual(logs.mapped('status'), ['retry', 'success'])
                self.assertEqual(logs.mapped('attempt'), [1, 2])
                self.assertEqual(logs.mapped('response_status_code'), [status, 200])
                self.assertTrue(all(log.duration_ms >= 0 for log in logs))
                self.assertIn(str(status), logs[0].error_message)
                self.assertFalse(logs[1].error_message)
                self.assertEqual(result['log_ids'], logs.ids)

    def test_duration_is_measured(self):
        self.api.reply(Reply(503, delay=0.2), Reply(200, delay=0.1))
        config, result = self._send()
        self.assertTrue(result['success'])
        first, second = self.logs(config)
        self.assertGreaterEqual(first.duration_ms, 200)
        self.assertGreaterEqual(second.duration_ms, 100)
        self.assertLess(second.duration_ms, 1000)

    def test_408_425_429_are_retried(self):
        for status in (408, 425, 429):
            with self.subTest(status=status):
                self.api.reset()
                self.api.reply(Reply(status))
                config, result = self._send(name=f'retry {status}')
                self.assertTrue(result['success'], result)
                self.assertEqual(len(self.api.received), 2)
                self.assertEqual(self.logs(config).mapped('status'), ['retry', 'success'])

    def test_retry_after_is_honoured(self):
        self.api.reply(Reply(429, {'error': 'slow down'}, headers={'Retry-After': '1'}))
        config, result = self._send()
        self.assertTrue(result['success'], result)
        first, second = self.api.received
        self.assertGreaterEqual(second.at - first.at, 1.0)
        self.assertLess(second.at - first.at, 3.0)
        self.assertEqual(self.logs(config).mapped('status'), ['retry', 'success'])

    def test_retry_after_is_capped(self):
        self.env['ir.config_parameter'].sudo().set_param('bj_api_sync.retry_after_max_seconds', '0.2')
        self.api.reply(Reply(503, headers={'Retry-After': '120'}))
        started = time.monotonic()
        config, result = self._send()
        self.assertTrue(result['success'], result)
        self.assertLess(time.monotonic() - started, 5)
        first, second = self.api.received
        self.assertGreaterEqual(second.at - first.at, 0.2)

    def test_invalid_credentials_not_retried(self):
        self.api.reply(Reply(401, {'error': 'invalid credentials'}))
        config, result = self._send(auth_type='basic', auth_login='api_user', auth_password='wrong_password')
        self.assertFalse(result['success'])
        self.assertEqual(result['status_code'], 401)
        self.assertEqual(result['response'], {'error': 'invalid credentials'})
        self.assertEqual(len(self.api.received), 1)
        [log] = self.logs(config)
        self.assertEqual((log.status, log.attempt, log.response_status_code), ('error', 1, 401))
        self.assertIn('401', log.error_message)
        self.assertIn('401', result['errors'][0])

    def test_other_4xx_not_retried(self):
        for status in (400, 403, 404, 409, 422):
            with self.subTest(status=status):
                self.api.reset()
                self.api.reply(Reply(status, {'error': 'nope'}))
                config, result = self._send(name=f'no retry {status}')
                self.assertFalse(result['success'])
                self.assertEqual(result['status_code'], status)
                self.assertEqual(len(self.api.received), 1)
                self.assertEqual(self.logs(config).mapped('status'), ['error'])

    def test_wrong_url_path_404(self):
        # The guide's "неправильний URL": the host answers, the path does not exist.
        self.api.reply(Reply(404, 'Not Found', headers={'Content-Type': 'text/plain'}))
        config, result = self._send(url=self.api.url('/api/no-such-endpoint'))
        self.assertFalse(result['success'])
        self.assertEqual(result['status_code'], 404)
        self.assertEqual(result['response'], 'Not Found')
        self.assertEqual([r.path for r in self.api.received], ['/api/no-such-endpoint'])
        self.assertEqual(self.logs(config).mapped('status'), ['error'])

    def test_other_5xx_not_retried(self):
        for status in (501, 505):
            with self.subTest(status=status):
                self.api.reset()
                self.api.reply(Reply(status))
                config, result = self._send(name=f'no retry {status}')
                self.assertFalse(result['success'])
                self.assertEqual(len(self.api.received), 1)

    def test_retries_exhausted(self):
        self.api.default = Reply(503, {'error': 'down'})
        config, result = self._send(max_retries=2)
        self.assertFalse(result['success'])
        self.assertEqual(result['status_code'], 503)
        self.assertEqual(len(self.api.received), 3)
        logs = self.logs(config)
        self.assertEqual(logs.mapped('status'), ['retry', 'retry', 'error'])
        self.assertEqual(logs.mapped('attempt'), [1, 2, 3])
        self.assertEqual(result['requests'][0]['attempts'], 3)
        self.assertEqual(result['requests'][0]['log_id'], logs[-1].id)
        self.assertEqual(len(result['errors']), 1)

    def test_max_retries_zero(self):
        self.api.default = Reply(503)
        config, result = self._send(max_retries=0)
        self.assertFalse(result['success'])
        self.assertEqual(len(self.api.received), 1)
        self.assertEqual(self.logs(config).mapped('status'), ['error'])

    def test_connection_refused(self):
        config, result = self._send(url=free_port_url('/api/items'), max_retries=2)
        self.assertFalse(result['success'])
        self.assertIsNone(result['status_code'])
        self.assertEqual(len(result['errors']), 1)
        self.assertIn('ConnectionError', result['errors'][0])
        logs = self.logs(config)
        self.assertEqual(logs.mapped('status'), ['retry', 'retry', 'error'])
        self.assertEqual(logs.mapped('attempt'), [1, 2, 3])
        self.assertFalse(any(logs.mapped('response_status_code')))
        self.assertTrue(all('Connection' in log.error_message for log in logs))

    def test_connection_refused_then_other_records_still_sent(self):
        # Graceful degradation: a failing call neither raises nor stops the caller.
        config = self.make_config(url=free_port_url(), lines=[('name', 'name')], max_retries=0)
        partners = self.partner | self.env['res.partner'].create({'name': 'Second'})
        result = config._make_outbound_http_request(partners, config.id)
        self.assertFalse(result['success'])
        self.assertEqual(len(result['requests']), 2)
        self.assertEqual(len(result['errors']), 2)

    def test_read_timeout_is_retried(self):
        self.api.reply(Reply(delay=0.6))
        config = self.make_config(lines=[('name', 'name')], max_retries=2)
        result = config._make_outbound_http_request(self.partner, config.id, timeout=0.3)
        self.assertTrue(result['success'], result)
        self.assertEqual(len(self.api.received), 2)
        first, second = self.logs(config)
        self.assertEqual((first.status, first.attempt), ('retry', 1))
        self.assertIn('Timeout', first.error_message)
        self.assertFalse(first.response_status_code)
        self.assertEqual((second.status, second.attempt), ('success', 2))

    def test_read_timeout_exhausted(self):
        self.api.default = Reply(delay=0.5)
        config = self.make_config(lines=[('name', 'name')], max_retries=1)
        result = config._make_outbound_http_request(self.partner, config.id, timeout=0.2)
        self.assertFalse(result['success'])
        self.assertIsNone(result['status_code'])
        self.assertEqual(self.logs(config).mapped('status'), ['retry', 'error'])

    def test_non_json_response(self):
        self.api.reply(Reply(200, 'OK, stored <b>1</b> record', headers={'Content-Type': 'text/plain'}))
        config, result = self._send()
        self.assertTrue(result['success'])
        self.assertEqual(result['response'], 'OK, stored <b>1</b> record')
        self.assertEqual(self.logs(config).response_body, 'OK, stored <b>1</b> record')

    def test_empty_response(self):
        self.api.reply(Reply(204, b''))
        config, result = self._send()
        self.assertTrue(result['success'])
        self.assertEqual(result['status_code'], 204)
        self.assertFalse(result['response'])


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestRetryPolicy(BjApiCase):
    """Unit tests of the backoff policy and of ``transport.send`` with a fake sleep."""

    def test_exponential_backoff_with_jitter(self):
        policy = RetryPolicy(max_retries=10, backoff_base=0.5, backoff_max=8.0)
        for number in range(1, 9):
            ceiling = min(8.0, 0.5 * 2 ** (number - 1))
            delays = [policy.delay(Attempt(number=number, duration_ms=0)) for _ in range(300)]
            self.assertTrue(all(0 <= delay <= ceiling for delay in delays), (number, ceiling, max(delays)))
            # Full jitter: spread over the whole range, reaching near the ceiling.
            self.assertGreater(max(delays), ceiling * 0.7, number)
            self.assertLess(min(delays), ceiling * 0.3, number)
            self.assertGreater(len(set(delays)), 250)
        # The ceiling grows: base, 2*base, 4*base... up to backoff_max.
        averages = [
            sum(policy.delay(Attempt(number=number, duration_ms=0)) for _ in range(400)) / 400
            for number in (1, 2, 3, 4)
        ]
        self.assertEqual(averages, sorted(averages))
        self.assertGreater(averages[3], 2 * averages[0])

    def test_retry_after_wins_and_is_capped(self):
        policy = RetryPolicy(backoff_base=0.5, backoff_max=8.0, retry_after_max=60.0)
        self.assertEqual(policy.delay(Attempt(number=1, duration_ms=0, retry_after=7)), 7)
        self.assertEqual(policy.delay(Attempt(number=5, duration_ms=0, retry_after=0)), 0)
        self.assertEqual(policy.delay(Attempt(number=1, duration_ms=0, retry_after=3600)), 60.0)
        self.assertEqual(RetryPolicy(retry_after_max=2).delay(Attempt(number=1, duration_ms=0, retry_after=30)), 2)

    def test_defaults(self):
        policy = RetryPolicy()
        self.assertEqual(policy.max_retries, 3)
        self.assertGreater(policy.backoff_max, policy.backoff_base)
        self.assertGreater(policy.retry_after_max, 0)

    def _send(self, policy, timeout=(2, 2)):
        delays, attempts = [], []
        request = HttpRequest('POST', self.api.url('/unit'), {'Content-Type': 'application/json'}, b'{"a": 1}')
        last = transport.send(request, timeout, policy,
                              on_attempt=lambda attempt, will_retry: attempts.append((attempt, will_retry)),
                              sleep=delays.append)
        return last, attempts, delays

    def test_send_with_fake_sleep(self):
        self.api.reply(Reply(503), Reply(502), Reply(429, headers={'Retry-After': '7'}), Reply(503), Reply(201))
        policy = RetryPolicy(max_retries=5, backoff_base=0.5, backoff_max=1.5, retry_after_max=60)
        last, attempts, delays = self._send(policy)
        self.assertTrue(last.ok)
        self.assertEqual(last.status_code, 201)
        self.assertEqual(last.number, 5)
        self.assertEqual([(a.number, a.status_code, retry) for a, retry in attempts],
                         [(1, 503, True), (2, 502, True), (3, 429, True), (4, 503, True), (5, 201, False)])
        self.assertEqual(len(delays), 4)
        self.assertTrue(0 <= delays[0] <= 0.5, delays)
        self.assertTrue(0 <= delays[1] <= 1.0, delays)
        self.assertEqual(delays[2], 7)
        self.assertTrue(0 <= delays[3] <= 1.5, delays)
        self.assertEqual(len(self.api.received), 5)
        self.assertEqual(self.api.received[0].json, {'a': 1})

    def test_send_retry_after_capped(self):
        self.api.reply(Reply(429, headers={'Retry-After': '3600'}))
        last, _attempts, delays = self._send(RetryPolicy(max_retries=1, retry_after_max=5))
        self.assertTrue(last.ok)
        self.assertEqual(delays, [5])

    def test_send_retry_after_http_date(self):
        when = email.utils.formatdate(time.time() + 5, usegmt=True)
        self.api.reply(Reply(503, headers={'Retry-After': when}))
        last, _attempts, delays = self._send(RetryPolicy(max_retries=1, retry_after_max=60))
        self.assertTrue(last.ok)
        [delay] = delays
        self.assertTrue(3 <= delay <= 5.5, delay)

    def test_send_retry_after_invalid_falls_back_to_backoff(self):
        self.api.reply(Reply(503, headers={'Retry-After': 'soon, maybe'}))
        last, _attempts, delays = self._send(RetryPolicy(max_retries=1, backoff_base=0.25, backoff_max=1))
        self.assertTrue(last.ok)
        [delay] = delays
        self.assertTrue(0 <= delay <= 0.25, delay)

    def test_send_stops_after_max_retries(self):
        self.api.default = Reply(500)
        last, attempts, delays = self._send(RetryPolicy(max_retries=2, backoff_base=0.5))
        self.assertEqual(last.status_code, 500)
        self.assertEqual(last.number, 3)
        self.assertEqual([retry for _attempt, retry in attempts], [True, True, False])
        self.assertEqual(len(delays), 2)

    def test_send_does_not_retry_client_errors(self):
        self.api.reply(Reply(400))
        last, attempts, delays = self._send(RetryPolicy(max_retries=3))
        self.assertEqual(last.status_code, 400)
        self.assertFalse(last.retryable)
        self.assertEqual(len(attempts), 1)
        self.assertEqual(delays, [])

    def test_send_network_error_never_raises(self):
        request = HttpRequest('GET', free_port_url(), {}, None)
        delays, attempts = [], []
        last = transport.send(request, (1, 1), RetryPolicy(max_retries=2, backoff_base=1),
                              on_attempt=lambda attempt, will_retry: attempts.append(will_retry),
                              sleep=delays.append)
        self.assertFalse(last.ok)
        self.assertIsNone(last.status_code)
        self.assertTrue(last.retryable)
        self.assertIn('ConnectionError', last.error)
        self.assertEqual(attempts, [True, True, False])
        self.assertEqual(len(delays), 2)
        self.assertTrue(all(0 <= d <= 2 for d in delays))
