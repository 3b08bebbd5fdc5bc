"""Defects a new user hit, each pinned by a test: redirects, non-Latin-1 headers, unreadable
network errors, readable secrets, the queued/immediate story, the User-Agent."""
from unittest.mock import patch

import psycopg2

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..engine.outbound.front_door import Outbound
from ..engine.shared import auth
from .common import BjApiCase, FakeApi, Reply, free_port_url

SECRET_FIELDS = ('auth_password', 'bearer_token', 'signing_secret')


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestEngineDefects(BjApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env['res.partner'].create({'name': 'Defect Partner', 'email': 'defect@example.com'})
        cls.elsewhere = FakeApi().start()
        cls.addClassCleanup(cls.elsewhere.stop)

    def setUp(self):
        super().setUp()
        self.elsewhere.reset()

    def test_redirect_of_a_post_is_a_failed_attempt_naming_the_location(self):
        for status in (301, 302, 307, 308):
            with self.subTest(status=status):
                self.api.reset()
                target = self.elsewhere.url('/moved')
                self.api.reply(Reply(status, b'', headers={'Location': target}))
                config = self.make_config(name=f'Moved {status}', lines=[('name', 'name')], auth_type='basic',
                                          auth_login='user', auth_password='pa55-word-moved')
                result = config._make_outbound_http_request(self.partner, config.id)
                self.assertFalse(result['success'])
                self.assertEqual(result['status_code'], status)
                # Not followed: no body-less GET, and the credentials went nowhere else.
                self.assertEqual([r.method for r in self.api.received], ['POST'])
                self.assertEqual(self.elsewhere.received, [])
                [log] = self.logs(config)
                self.assertEqual((log.status, log.attempt), ('error', 1))
                self.assertIn(target, log.error_message)
                self.assertIn(target, result['errors'][0])

    def test_non_latin1_header_is_refused_at_save(self):
        with self.assertRaises(ValidationError) as caught:
            self.make_config(name='Cyrillic header', lines=[('name', 'name')],
                             header_ids=[(0, 0, {'key': 'X-Source', 'value': 'Одоо Україна'})])
        self.assertIn('Cyrillic header', str(caught.exception))
        self.assertIn('X-Source', str(caught.exception))
        self.assertIn('Latin-1', str(caught.exception))

    def test_non_latin1_header_never_raises_out_of_a_call(self):
        config = self.make_config(name='Old header', lines=[('name', 'name')],
                                  header_ids=[(0, 0, {'key': 'X-Source', 'value': 'Odoo'})])
        # A value saved before the check existed.
        self.env.flush_all()
        self.env.cr.execute("UPDATE bj_api_sync_header SET value = 'Одоо Україна' WHERE config_id = %s", [config.id])
        self.env.invalidate_all()
        result = config._make_outbound_http_request(self.partner, config.id)
        self.assertFalse(result['success'])
        self.assertEqual(self.api.received, [])
        [log] = self.logs(config)
        self.assertEqual(log.status, 'error')
        self.assertIn("'X-Source'", log.error_message)
        self.assertIn('Latin-1', log.error_message)

    def test_network_errors_are_said_as_a_person_would(self):
        refused = self.make_config(name='Refused', url=free_port_url('/x'), lines=[('name', 'name')], max_retries=0)
        result = refused._make_outbound_http_request(self.partner, refused.id)
        self.assertRegex(result['errors'][0], r'^Connection refused by 127\.0\.0\.1:\d+$')
        self.assertNotIn('object at 0x', result['errors'][0])
        self.assertIsNone(result['status_code'])

        self.api.reply(Reply(delay=0.5))
        slow = self.make_config(name='Slow', lines=[('name', 'name')], max_retries=0)
        result = slow._make_outbound_http_request(self.partner, slow.id, timeout=0.2)
        self.assertRegex(result['errors'][0], r'^No answer from 127\.0\.0\.1:\d+ within 0\.2 s$')
        [log] = self.logs(slow)
        self.assertEqual(log.error_message, result['errors'][0])
        self.assertIsNone(result['status_code'])
        # No response, no status code: the log views leave it empty instead of showing 0.
        Log = self.env['bj.api.log']
        for view_type in ('list', 'form'):
            arch = Log.get_views([(False, view_type)])['views'][view_type]['arch']
            self.assertRegex(arch, r'name="response_status_code"[^>]*invisible="not response_status_code"', view_type)

    def test_secrets_are_not_searchable_groupable_sortable_or_exportable(self):
        Config = self.env['bj.api.sync.config']
        described = Config.fields_get(list(SECRET_FIELDS), ['searchable', 'sortable', 'groupable', 'exportable'])
        for name in SECRET_FIELDS:
            self.assertEqual(described[name], {'searchable': False, 'sortable': False, 'groupable': False,
                                               'exportable': False}, name)
        self.make_config(name='Secretive', lines=[('name', 'name')], auth_type='bearer', bearer_token='tok-123456')
        with self.assertRaises(UserError):
            Config._read_group([], ['bearer_token'], ['__count'])
        with self.assertRaises(UserError):
            Config.search([('bearer_token', '=', 'tok-123456')])
        # Other fields still group and search as usual.
        self.assertTrue(Config._read_group([], ['auth_type'], ['__count']))
        self.assertTrue(Config.search([('name', '=', 'Secretive')]))

    @mute_logger('odoo.sql_db')
    def test_database_errors_in_a_script_are_not_swallowed(self):
        config = self.make_config(name='Broken SQL', lines=[
            {'api_key': 'x', 'value_type': 'python', 'python_code': "env.cr.execute('SELECT 1/0')"}])
        with self.assertRaises(psycopg2.Error), self.env.cr.savepoint():
            config._make_outbound_http_request(self.partner, config.id)
        self.assertEqual(self.api.received, [])

    def test_user_agent_names_the_addon_and_its_version(self):
        config = self.make_config(lines=[('name', 'name')])
        config._make_outbound_http_request(self.partner, config.id)
        version = self.env['ir.module.module'].search([('name', '=', 'bj_api_sync')]).installed_version
        agent = self.api.received[0].headers['User-Agent']
        self.assertTrue(agent.startswith(f'bj_api_sync/{version.split(".", 2)[-1]}')
                        or agent.startswith(f'bj_api_sync/{version}'), agent)
        self.assertNotRegex(agent, r'^python-requests')

    def test_one_story_of_retries(self):
        config = self.make_config(lines=[('name', 'name')], max_retries=2)
        self.assertIn('3', config.retry_summary)
        config.write({'delivery_mode': 'queued', 'queue_retry_schedule': '1m, 5m, 30m'})
        self.assertIn('4', config.retry_summary)
        self.assertIn('36 min', config.retry_summary)
        self.env['res.lang']._activate_lang('uk_UA')
        config.queue_retry_schedule = '1m, 5m, 30m, 20h'
        self.assertIn('20 год 36 хв', config.with_context(lang='uk_UA').retry_summary,
                      "durations in the user's language")
        config.queue_retry_schedule = '1m, 5m, 30m'
        result = config._make_outbound_http_request(self.partner, config.id)
        job = self.env['bj.api.sync.job'].browse(result['job_ids'])
        # The delivery says what the config says: the first attempt and one per wait.
        self.assertEqual(job.max_attempts, 4)
        # The Deliveries button counts every delivery and opens on all of them, done ones included.
        job.state = 'done'
        config.invalidate_recordset(['job_count'])
        self.assertEqual(config.job_count, 1)
        action = config.action_open_jobs()
        self.assertEqual(self.env['bj.api.sync.job'].search(action['domain']), job)
        self.assertFalse([key for key in action.get('context', {}) if key.startswith('search_default_')])

    def test_queued_job_is_finished_when_sent(self):
        config = self.make_config(lines=[('id', 'id'), ('name', 'name')], url=self.api.url('/old/{id}'),
                                  delivery_mode='queued', auth_type='bearer', bearer_token='first-token-1')
        result = config._make_outbound_http_request(self.partner, config.id)
        job = self.env['bj.api.sync.job'].browse(result['job_ids'])
        self.assertFalse('url' in job._fields)
        self.assertEqual(job.url_values, f'{{"id": {self.partner.id}}}')
        # Fixed after queueing: the delivery goes out with the config as it is now.
        config.write({'url': self.api.url('/new/{id}'), 'bearer_token': 'second-token-2'})
        self.env.flush_all()
        with self.shared_cursors():
            self.env['bj.api.sync.job']._cron_dispatch()
        [received] = self.api.received
        self.assertEqual(received.path, f'/new/{self.partner.id}')
        self.assertEqual(received.headers['Authorization'], 'Bearer second-token-2')


class RenewingBearer(auth.BearerAuth):
    """A bearer token that can be renewed once, as an OAuth2 token would be."""

    def refresh(self):
        if self.token == 'fresh-token-2':
            return False
        self.token = 'fresh-token-2'
        return True


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestFrontDoor(BjApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env['res.partner'].create({'name': 'Front Door', 'email': 'front@example.com'})

    def test_a_401_gives_one_attempt_with_fresh_credentials_not_counted_as_a_retry(self):
        config = self.make_config(lines=[('name', 'name')], auth_type='bearer', bearer_token='stale-token-1',
                                  max_retries=0)
        self.api.reply(Reply(401, {'error': 'expired'}))
        with patch.dict(auth.AUTH_TYPES, {'bearer': RenewingBearer}):
            result = config._make_outbound_http_request(self.partner, config.id)
        self.assertTrue(result['success'], result)
        self.assertEqual([r.headers['Authorization'] for r in self.api.received],
                         ['Bearer stale-token-1', 'Bearer fresh-token-2'])
        logs = self.logs(config)
        self.assertEqual([(log.status, log.attempt, log.response_status_code) for log in logs],
                         [('retry', 1, 401), ('success', 1, 200)])
        for log in logs:
            self.assertNotIn('token', log.request_headers.replace('"Authorization": "Bearer ***"', ''))

    def test_a_second_401_is_final(self):
        config = self.make_config(lines=[('name', 'name')], auth_type='bearer', bearer_token='fresh-token-2')
        self.api.default = Reply(401)
        with patch.dict(auth.AUTH_TYPES, {'bearer': RenewingBearer}):
            result = config._make_outbound_http_request(self.partner, config.id)
        self.assertFalse(result['success'])
        self.assertEqual(len(self.api.received), 1)
        self.assertEqual(self.logs(config).mapped('status'), ['error'])

    def test_every_auth_type_lists_its_secrets(self):
        self.assertEqual(set(auth.AUTH_TYPES), set(dict(self.env['bj.api.sync.config']._fields['auth_type'].selection)))
        self.assertEqual(auth.Auth().secrets(), [])
        self.assertIn('pw-12345', auth.BasicAuth('me', 'pw-12345').secrets())
        self.assertEqual(auth.BearerAuth('tok-12345').secrets(), ['tok-12345'])

    def test_every_caller_goes_through_the_front_door(self):
        """Entry point, scheduled sync, automation after commit, outbox, preview and Send Test."""
        config = self.make_config(lines=[('name', 'name')], domain=f"[('id', '=', {self.partner.id})]")
        profiles = []
        real_init = Outbound.__init__

        def spy(outbound, config, *args, **kwargs):
            profiles.append(config.id)
            return real_init(outbound, config, *args, **kwargs)

        with patch.object(Outbound, '__init__', spy):
            config._make_outbound_http_request(self.partner, config.id)
            config._run_scheduled_sync()
            config._send_from_automation(self.partner)
            self.commit()
            config._make_outbound_http_request(self.partner, config.id, queued=True)
            self.env.flush_all()
            with self.shared_cursors():
                self.env['bj.api.sync.job']._cron_dispatch()
            wizard = self.env['bj.api.sync.preview.wizard'].create({'config_id': config.id})
            self.assertTrue(wizard.preview_body)
            wizard.action_send_test()
        self.assertGreaterEqual(len(profiles), 7)
        self.assertEqual(set(profiles), {config.id})
        self.assertEqual(len(self.api.received), 5)

    def test_engine_messages_are_in_the_users_language(self):
        self.env['res.lang']._activate_lang('uk_UA')
        self.env['ir.module.module']._load_module_terms(['bj_api_sync'], ['uk_UA'], overwrite=True)
        archived = self.make_config(name='Архів', lines=[('name', 'name')], active=False)
        archived.with_context(lang='uk_UA')._make_outbound_http_request(self.partner, archived.id)
        [log] = self.logs(archived)
        self.assertEqual(log.error_message, 'BJ API config "Архів" архівовано: нічого не надіслано.')

        # A dispatcher has no user: its logs use the language of whoever last changed the config.
        down = self.make_config(name='Недоступний', url=free_port_url('/x'), lines=[('name', 'name')],
                                delivery_mode='queued')
        down.write_uid.lang = 'uk_UA'
        down._make_outbound_http_request(self.partner, down.id)
        self.env.flush_all()
        with self.shared_cursors():
            self.env['bj.api.sync.job']._cron_dispatch()
        self.env.invalidate_all()
        [log] = self.logs(down)
        self.assertRegex(log.error_message, r"^127\.0\.0\.1:\d+ відхилив з'єднання$")
