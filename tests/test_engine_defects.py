"""Defects a new user hit, each pinned by a test: redirects, non-Latin-1 headers, unreadable
network errors, readable secrets, the queued/immediate story, the User-Agent."""
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

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
            Config.read_group([], ['name'], ['bearer_token'])
        with self.assertRaises(UserError):
            Config.search([('bearer_token', '=', 'tok-123456')])
        # Other fields still group and search as usual.
        self.assertTrue(Config.read_group([], ['name'], ['auth_type']))
        self.assertTrue(Config.search([('name', '=', 'Secretive')]))

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
