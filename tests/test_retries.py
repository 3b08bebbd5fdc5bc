"""Retries (docs/reference.md) and the guide's "Обробка помилок" scenarios: what is retried, how long we wait, what is logged."""
import email.utils
import time
from unittest.mock import patch

from odoo.tests import tagged

from ..engine.outbound.front_door import Outbound
from ..engine.outbound.planning import Planned
from ..engine.outbound.profile import Backoff, Schedule
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
        self.assertRegex(result['errors'][0], r'^Connection refused by 127\.0\.0\.1:\d+$')
        logs = self.logs(config)
        self.assertEqual(logs.mapped('status'), ['retry', 'retry', 'error'])
        self.assertEqual(logs.mapped('attempt'), [1, 2, 3])
        self.assertEqual(set(logs.mapped('error_message')), {result['errors'][0]})
        self.assertFalse(any(logs.mapped('response_status_code')))

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
        self.assertRegex(first.error_message, r'^No answer from 127\.0\.0\.1:\d+ within 0\.3 s$')
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
    """Unit tests of the backoff rule and of the front door's attempts (``Outbound.send``) with a fake sleep."""

    def test_exponential_backoff_with_jitter(self):
        policy = Backoff(max_retries=10, base=0.5, cap=8.0)
        for number in range(1, 9):
            ceiling = min(8.0, 0.5 * 2 ** (number - 1))
            delays = [policy.wait(number) for _ in range(300)]
            self.assertTrue(all(0 <= delay <= ceiling for delay in delays), (number, ceiling, max(delays)))
            # Full jitter: spread over the whole range, reaching near the ceiling.
            self.assertGreater(max(delays), ceiling * 0.7, number)
            self.assertLess(min(delays), ceiling * 0.3, number)
            self.assertGreater(len(set(delays)), 250)
        # The ceiling grows: base, 2*base, 4*base... up to the cap.
        averages = [sum(policy.wait(number) for _ in range(400)) / 400 for number in (1, 2, 3, 4)]
        self.assertEqual(averages, sorted(averages))
        self.assertGreater(averages[3], 2 * averages[0])

    def test_retry_after_wins_and_is_capped(self):
        policy = Backoff(base=0.5, cap=8.0, retry_after_max=60.0)
        self.assertEqual(policy.wait(1, retry_after=7), 7)
        self.assertEqual(policy.wait(5, retry_after=0), 0)
        self.assertEqual(policy.wait(1, retry_after=3600), 60.0)
        self.assertEqual(Backoff(retry_after_max=2).wait(1, retry_after=30), 2)

    def test_defaults(self):
        policy = Backoff()
        self.assertEqual(policy.max_retries, 3)
        self.assertEqual(policy.max_attempts, 4)
        self.assertGreater(policy.cap, policy.base)
        self.assertGreater(policy.retry_after_max, 0)

    def _send(self, policy, url=None, timeout=(2, 2)):
        """One request through the front door: (last verdict, its attempts' logs, the waits slept)."""
        config = self.make_config(url=url or self.api.url('/unit'), lines=[('name', 'name')])
        outbound = Outbound(config.sudo(), timeout=timeout)
        delays = []
        with patch.object(Outbound, 'sleep', delays.append):
            verdict = outbound.send(Planned([1], body={'a': 1}, url_values={}), 'key-1', policy)
        return verdict, self.logs(config), delays

    def test_send_with_fake_sleep(self):
        self.api.reply(Reply(503), Reply(502), Reply(429, headers={'Retry-After': '7'}), Reply(503), Reply(201))
        policy = Backoff(max_retries=5, base=0.5, cap=1.5, retry_after_max=60)
        verdict, logs, delays = self._send(policy)
        self.assertEqual(verdict.state, 'done')
        self.assertEqual(verdict.attempt.status_code, 201)
        self.assertEqual(verdict.number, 5)
        self.assertEqual([(log.attempt, log.response_status_code, log.status) for log in logs],
                         [(1, 503, 'retry'), (2, 502, 'retry'), (3, 429, 'retry'), (4, 503, 'retry'),
                          (5, 201, 'success')])
        self.assertEqual(len(delays), 4)
        self.assertTrue(0 <= delays[0] <= 0.5, delays)
        self.assertTrue(0 <= delays[1] <= 1.0, delays)
        self.assertEqual(delays[2], 7)
        self.assertTrue(0 <= delays[3] <= 1.5, delays)
        self.assertEqual(len(self.api.received), 5)
        self.assertEqual(self.api.received[0].json, {'a': 1})
        # Every attempt of one request carries the same idempotency key.
        self.assertEqual({received.headers['Idempotency-Key'] for received in self.api.received}, {'key-1'})

    def test_send_retry_after_capped(self):
        self.api.reply(Reply(429, headers={'Retry-After': '3600'}))
        verdict, _logs, delays = self._send(Backoff(max_retries=1, retry_after_max=5))
        self.assertEqual(verdict.state, 'done')
        self.assertEqual(delays, [5])

    def test_send_retry_after_http_date(self):
        when = email.utils.formatdate(time.time() + 5, usegmt=True)
        self.api.reply(Reply(503, headers={'Retry-After': when}))
        verdict, _logs, delays = self._send(Backoff(max_retries=1, retry_after_max=60))
        self.assertEqual(verdict.state, 'done')
        [delay] = delays
        self.assertTrue(3 <= delay <= 5.5, delay)

    def test_send_retry_after_invalid_falls_back_to_backoff(self):
        self.api.reply(Reply(503, headers={'Retry-After': 'soon, maybe'}))
        verdict, _logs, delays = self._send(Backoff(max_retries=1, base=0.25, cap=1))
        self.assertEqual(verdict.state, 'done')
        [delay] = delays
        self.assertTrue(0 <= delay <= 0.25, delay)

    def test_send_stops_after_max_retries(self):
        self.api.default = Reply(500)
        verdict, logs, delays = self._send(Backoff(max_retries=2, base=0.5))
        self.assertEqual(verdict.state, 'dead')
        self.assertEqual(verdict.attempt.status_code, 500)
        self.assertEqual(verdict.number, 3)
        self.assertEqual(logs.mapped('status'), ['retry', 'retry', 'error'])
        self.assertEqual(len(delays), 2)

    def test_send_does_not_retry_client_errors(self):
        self.api.reply(Reply(400))
        verdict, logs, delays = self._send(Backoff(max_retries=3))
        self.assertEqual(verdict.state, 'failed')
        self.assertEqual(verdict.attempt.status_code, 400)
        self.assertEqual(len(logs), 1)
        self.assertEqual(delays, [])

    def test_send_network_error_never_raises(self):
        verdict, logs, delays = self._send(Backoff(max_retries=2, base=1), url=free_port_url(), timeout=(1, 1))
        self.assertEqual(verdict.state, 'dead')
        self.assertIsNone(verdict.attempt.status_code)
        self.assertTrue(verdict.attempt.retryable)
        self.assertRegex(verdict.error, r'^Connection refused by 127\.0\.0\.1:\d+$')
        self.assertEqual(logs.mapped('status'), ['retry', 'retry', 'error'])
        self.assertEqual(len(delays), 2)
        self.assertTrue(all(0 <= d <= 2 for d in delays))

    def test_queued_schedule_waits_and_counts_attempts(self):
        schedule = Schedule((60, 300))
        self.assertEqual(schedule.max_attempts, 3)
        for number, base in ((1, 60), (2, 300), (5, 300)):
            waits = [schedule.wait(number) for _ in range(200)]
            self.assertTrue(all(base * 0.8 <= wait <= base * 1.2 for wait in waits), (number, min(waits), max(waits)))
        # Never before the server's Retry-After, which is capped at a day.
        self.assertEqual(schedule.wait(1, retry_after=3600), 3600)
        self.assertEqual(schedule.wait(1, retry_after=10 ** 9), 86400)
