"""Triggers (docs/reference.md, "Triggers"): server actions, scheduled actions, automation rules."""
import contextlib
import datetime
from unittest.mock import patch

from odoo.tests import tagged

from ..engine.outbox import budget as cron_module
from ..engine.shared import sandbox
from .common import BjApiCase, free_port_url

GUIDE_CRON_CODE = """# Синхронізувати всіх змінених партнерів щогодини
partners = env['res.partner'].search([
('write_date', '>=', datetime.now() - timedelta(hours=1))
])
config = env.ref('module.outbound_partner_config')
for partner in partners:
    config._make_outbound_http_request(partner, config.id)
"""

GUIDE_SERVER_ACTION_CODE = """record = self.env['res.partner'].browse(partner_id)
config = self.env.ref('module.api_config_xml_id')
config._make_outbound_http_request(record, config.id, timeout=60)
"""


class TriggerCase(BjApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.config = cls.env['bj.api.sync.config'].create({
            'name': 'Partners out',
            'model_id': cls.partner_model.id,
            'url': cls.api.url('/partners'),
            'http_method_ids': [(6, 0, cls.method_post.ids)],
            'domain': "[('name', 'not like', 'Internal%')]",
            'line_ids': [(0, 0, {'api_key': 'name', 'field_path': 'name'}),
                         (0, 0, {'api_key': 'email', 'field_path': 'email'}),
                         (0, 0, {'api_key': 'external_id', 'field_path': 'id'})],
        })

    def create_trigger(self, kind, config=None, **values):
        wizard = self.env['bj.api.sync.trigger.wizard'].create({
            'config_id': (config or self.config).id, 'kind': kind, **values})
        action = wizard.action_create()
        return self.env[action['res_model']].browse(action['res_id'])

    def hide_existing_partners(self):
        """Put the partners that exist before the test out of the config's domain (names stay unique:
        a company's name is its partner's)."""
        for partner in self.env['res.partner'].search([]):
            partner.name = f'Internal {partner.name}'

    def sent_names(self):
        return [received.json['name'] for received in self.api.received]

    @contextlib.contextmanager
    def counting_rule_runs(self):
        """The record ids of each automation-rule run, in order."""
        runs = []
        original = type(self.config)._send_from_automation

        def counting(config, records, queued=None):
            runs.append(records.ids)
            return original(config, records, queued=queued)

        with patch.object(type(self.config), '_send_from_automation', counting):
            yield runs


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestServerActions(TriggerCase):

    def test_server_action_from_action_menu_sends_selected_records(self):
        action = self.create_trigger('action')
        self.assertEqual(action._name, 'ir.actions.server')
        self.assertEqual(action.binding_model_id, self.partner_model)
        self.assertEqual(action.bj_api_config_id, self.config)
        partners = self.env['res.partner'].create([{'name': 'A'}, {'name': 'B'}, {'name': 'Internal C'}])
        result = action.with_context(
            active_model='res.partner', active_ids=partners.ids, active_id=partners[0].id).run()
        self.assertEqual(self.sent_names(), ['A', 'B'])
        self.assertEqual(result['tag'], 'display_notification')
        self.assertIn('2 request(s) sent, 1 record(s) skipped', result['params']['message'])
        self.assertEqual(self.config.server_action_count, 1)

    def test_server_action_reports_failures(self):
        self.config.url = free_port_url('/partners')
        self.config.max_retries = 0
        action = self.create_trigger('action')
        partner = self.env['res.partner'].create({'name': 'A'})
        result = action.with_context(active_model='res.partner', active_ids=partner.ids, active_id=partner.id).run()
        self.assertEqual(result['params']['type'], 'danger')
        self.assertIn('Connection refused by 127.0.0.1:', result['params']['message'])

    def test_guide_server_action_snippet_verbatim(self):
        self.env['ir.model.data'].create({
            'module': 'module', 'name': 'api_config_xml_id', 'model': self.config._name, 'res_id': self.config.id})
        partner = self.env['res.partner'].create({'name': 'Guide partner'})
        action = self.env['ir.actions.server'].create({
            'name': 'Guide snippet',
            'model_id': self.env['ir.model']._get('bj.api.sync.config').id,
            'state': 'code',
            'code': f"partner_id = {partner.id}\n" + GUIDE_SERVER_ACTION_CODE,
        })
        action.run()
        self.assertEqual(self.sent_names(), ['Guide partner'])

    def test_entry_point_form_from_code_action_on_records(self):
        partners = self.env['res.partner'].create([{'name': 'A'}, {'name': 'B'}])
        action = self.env['ir.actions.server'].create({
            'name': 'Send selection',
            'model_id': self.partner_model.id,
            'state': 'code',
            'code': f"env['bj.api.sync.config']._make_outbound_http_request("
                    f"record_ids=records, config_id_ref={self.config.id})",
        })
        action.with_context(active_model='res.partner', active_ids=partners.ids, active_id=partners[0].id).run()
        self.assertEqual(self.sent_names(), ['A', 'B'])


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestScheduledActions(TriggerCase):

    def test_create_scheduled_action_sends_domain_by_pages(self):
        self.config.write({'is_paginated': True, 'page_size': 2})
        self.hide_existing_partners()
        self.env['res.partner'].create([{'name': f'P{i}'} for i in range(5)])
        cron = self.create_trigger('cron', interval_number=30, interval_type='minutes', changed_only=False)
        self.assertEqual(cron._name, 'ir.cron')
        self.assertEqual((cron.interval_number, cron.interval_type), (30, 'minutes'))
        self.assertEqual(cron.model_id.model, 'bj.api.sync.config')
        self.assertEqual(self.config.cron_ids, cron)
        self.run_cron(cron)
        self.assertEqual([len(received.json) for received in self.api.received], [2, 2, 1])
        self.assertEqual(sorted(item['name'] for received in self.api.received for item in received.json),
                         ['P0', 'P1', 'P2', 'P3', 'P4'])

    def test_a_long_sync_is_cut_into_runs_that_resume_where_the_last_stopped(self):
        """Under Odoo's cron time limit: a run stops after its budget, remembers where it was and
        triggers its scheduled action; the next run goes on from there."""
        self.hide_existing_partners()
        partners = self.env['res.partner'].create([{'name': f'Long {number}'} for number in range(45)])
        self.config.domain = f"[('id', 'in', {partners.ids})]"
        cron = self.create_trigger('cron', changed_only=False)
        run = self.config.with_context(cron_id=cron.id)
        progress = self.env['ir.cron.progress'].create({'cron_id': cron.id})
        triggers = self.env['ir.cron.trigger'].search_count([('cron_id', '=', cron.id)])
        # A budget so small that each run gets one batch of 20 records.
        with patch.object(cron_module, 'time_budget', lambda longest: 0):
            run.with_context(ir_cron_progress_id=progress.id)._run_scheduled_sync()
            self.assertEqual(len(self.api.received), 20)
            self.assertEqual(progress.done, 20)
            self.assertEqual(self.config.sync_resume_id, partners[19].id)
            self.assertFalse(self.config.last_sync_date, "not done yet")
            started = self.config.sync_run_started
            self.assertTrue(started)
            self.assertEqual(self.env['ir.cron.trigger'].search_count([('cron_id', '=', cron.id)]), triggers + 1)
            run._run_scheduled_sync()
            run._run_scheduled_sync()
        self.assertEqual(self.sent_names(), partners.mapped('name'), "each record once, in order")
        self.assertEqual(self.config.sync_resume_id, 0)
        # Changed-only syncs will send what was written since the first run began.
        self.assertEqual(self.config.last_sync_date, started)
        self.assertFalse(self.config.sync_run_started)

    def test_changed_only_sends_what_changed_since_last_success(self):
        self.hide_existing_partners()
        first, second = self.env['res.partner'].create([{'name': 'First'}, {'name': 'Second'}])
        cron = self.create_trigger('cron', changed_only=True)
        self.run_cron(cron)
        self.assertEqual(sorted(self.sent_names()), ['First', 'Second'])
        self.assertTrue(self.config.last_sync_date)
        # Time passes: those writes are now a minute older than the run (which resends,
        # at least once, anything written within its starting second).
        self.env.flush_all()
        self.env.cr.execute("UPDATE res_partner SET write_date = write_date - interval '1 minute'")
        self.env.invalidate_all()
        self.api.reset()
        self.run_cron(cron)
        self.assertEqual(self.sent_names(), [], "nothing changed since the last successful run")
        # A write committed after the last run (write_date is the writing transaction's start).
        later = self.config.last_sync_date + datetime.timedelta(seconds=5)
        self.env.flush_all()
        self.env.cr.execute("UPDATE res_partner SET write_date = %s WHERE id = %s", (later, second.id))
        self.env.invalidate_all()
        self.run_cron(cron)
        self.assertEqual(self.sent_names(), ['Second'])

    def test_failed_run_does_not_advance_last_sync(self):
        self.env['res.partner'].create({'name': 'P'})
        self.config.write({'url': free_port_url('/x'), 'max_retries': 0})
        cron = self.create_trigger('cron', changed_only=True)
        self.run_cron(cron)
        self.assertFalse(self.config.last_sync_date)
        self.assertIn('error', self.logs(self.config).mapped('status'))

    def test_guide_cron_code_verbatim(self):
        self.env['ir.model.data'].create({
            'module': 'module', 'name': 'outbound_partner_config',
            'model': self.config._name, 'res_id': self.config.id})
        self.hide_existing_partners()
        self.env['res.partner'].create({'name': 'Changed recently'})
        self.env.flush_all()
        # Only the partner above counts as changed within the hour.
        self.env.cr.execute("UPDATE res_partner SET write_date = now() at time zone 'UTC' - interval '2 hours' "
                            "WHERE name = 'Internal old'")
        self.env.invalidate_all()
        cron = self.env['ir.cron'].create({
            'name': 'Guide hourly sync',
            'model_id': self.env['ir.model']._get('bj.api.sync.config').id,
            'state': 'code',
            'code': GUIDE_CRON_CODE,
            'interval_number': 1,
            'interval_type': 'hours',
        })
        self.run_cron(cron)
        self.assertEqual(self.sent_names(), ['Changed recently'])

    def test_datetime_works_as_module_and_class_in_config_actions(self):
        action = self.env['ir.actions.server'].create({
            'name': 'datetime both ways',
            'model_id': self.env['ir.model']._get('bj.api.sync.config').id,
            'state': 'code',
            'code': "a = datetime.now() - timedelta(hours=1)\n"
                    "b = datetime.datetime.now() - datetime.timedelta(hours=1)\n"
                    "c = datetime.date.today() + relativedelta(days=1)\n"
                    "action = [isinstance(a, datetime), isinstance(b, datetime.datetime), "
                    "c > datetime.date.today()]",
        })
        context = action._get_eval_context(action)
        self.assertIs(context['datetime'], sandbox.DATETIME)
        self.assertIs(context['timedelta'], datetime.timedelta)
        self.assertEqual(action.run(), [True, True, True])

    def test_other_actions_keep_odoo_context(self):
        action = self.env['ir.actions.server'].create({
            'name': 'partner action', 'model_id': self.partner_model.id, 'state': 'code', 'code': 'pass'})
        context = action._get_eval_context(action)
        self.assertIsNot(context['datetime'], sandbox.DATETIME)
        self.assertNotIn('timedelta', context)


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestAutomationRules(TriggerCase):

    def test_on_save_rule_sends_once_per_create_and_per_write(self):
        # Watching every field, as a rule made by hand would: Odoo runs it several times per create.
        rule = self.create_trigger('automation', trigger='on_create_or_write', trigger_field_ids=[(5, 0, 0)])
        self.assertEqual(rule._name, 'base.automation')
        self.assertEqual(rule.action_server_ids.bj_api_config_id, self.config)
        self.assertEqual(self.config.automation_ids, rule)
        with self.counting_rule_runs() as runs:
            partner = self.env['res.partner'].create({'name': 'Olena', 'email': 'first@example.com'})
            self.assertEqual(self.api.received, [], "nothing leaves before commit")
            self.commit()
        self.assertGreater(len(runs), 1, "Odoo runs an on-save rule several times per create")
        self.assertEqual(len(self.api.received), 1)
        self.assertEqual(self.api.received[0].json,
                         {'name': 'Olena', 'email': 'first@example.com', 'external_id': partner.id})
        partner.write({'email': 'second@example.com'})
        self.commit()
        self.assertEqual(len(self.api.received), 2)
        self.assertEqual(self.api.received[1].json['email'], 'second@example.com')

    def test_final_state_is_sent(self):
        self.create_trigger('automation', trigger='on_create_or_write')
        partner = self.env['res.partner'].create({'name': 'Draft'})
        partner.write({'email': 'a@example.com'})
        partner.write({'name': 'Final'})
        self.commit()
        self.assertEqual([received.json for received in self.api.received],
                         [{'name': 'Final', 'email': 'a@example.com', 'external_id': partner.id}])

    def test_on_create_rule(self):
        self.create_trigger('automation', trigger='on_create')
        partner = self.env['res.partner'].create({'name': 'New'})
        self.commit()
        partner.write({'name': 'Renamed'})
        self.commit()
        self.assertEqual(self.sent_names(), ['New'])

    def test_on_update_rule_with_watched_fields(self):
        email_field = self.env['ir.model.fields']._get('res.partner', 'email')
        self.create_trigger('automation', trigger='on_write', trigger_field_ids=[(6, 0, email_field.ids)])
        partner = self.env['res.partner'].create({'name': 'Watched'})
        self.commit()
        self.assertEqual(self.sent_names(), [], "creation is not an update")
        partner.write({'phone': '555'})
        self.commit()
        self.assertEqual(self.sent_names(), [], "phone is not watched")
        partner.write({'email': 'w@example.com'})
        self.commit()
        self.assertEqual(self.sent_names(), ['Watched'])

    def test_rules_watch_the_fields_the_mapping_reads_by_default(self):
        rule = self.create_trigger('automation')
        self.assertEqual(sorted(rule.trigger_field_ids.mapped('name')), ['email', 'id', 'name'])
        with self.counting_rule_runs() as runs:
            partner = self.env['res.partner'].create({'name': 'Admin-like', 'email': 'a@example.com'})
            self.commit()
        self.assertEqual(len(runs), 1, "the create runs the rule once: later writes inside it are not watched")
        self.assertEqual(self.sent_names(), ['Admin-like'])
        partner.write({'lang': 'uk_UA', 'phone': '555'})
        self.commit()
        self.assertEqual(self.sent_names(), ['Admin-like'], "a write the mapping does not read sends nothing")
        partner.write({'email': 'b@example.com'})
        self.commit()
        self.assertEqual(self.sent_names(), ['Admin-like', 'Admin-like'])

    def test_watched_fields_of_python_lines_and_when_unknown(self):
        def watched(*lines, **values):
            config = self.config.copy({'name': f'Watched {len(lines)}', 'line_ids': [(5, 0, 0)] + [
                (0, 0, line) for line in lines], **values})
            wizard = self.env['bj.api.sync.trigger.wizard'].create({'config_id': config.id, 'kind': 'automation'})
            return sorted(wizard.trigger_field_ids.mapped('name'))

        python = {'api_key': 'domain', 'value_type': 'python', 'python_code': "(record.email or '').split('@')[-1]"}
        relational = {'api_key': 'country', 'field_path': 'country_id.code'}
        self.assertEqual(watched(python, relational), ['country_id', 'email'])
        # A script reaching records some other way, or a non-stored field: any change may matter.
        self.assertEqual(watched({**python, 'python_code': "env.user.name"}), [])
        self.assertEqual(watched({**python, 'python_code': "record['email']"}), [])
        self.assertEqual(watched({'api_key': 'label', 'field_path': 'display_name'}), [])
        self.assertEqual(watched(relational, python_script="result = dict(request_data, n=len(records))"), [])
        self.assertEqual(watched(relational, python_script="result = dict(request_data, v=2)"), ['country_id'])

    def test_on_delete_sends_payload_taken_before_deletion(self):
        delete_config = self.config.copy({'name': 'Partners delete', 'http_method_ids': [(6, 0, self.method_delete.ids)]})
        self.create_trigger('automation', config=delete_config, trigger='on_unlink')
        partner = self.env['res.partner'].create({'name': 'Gone', 'email': 'gone@example.com'})
        partner_id = partner.id
        self.commit()
        partner.unlink()
        self.commit()
        [received] = self.api.received
        self.assertEqual(received.method, 'DELETE')
        self.assertEqual(received.json, {'name': 'Gone', 'email': 'gone@example.com', 'external_id': partner_id})
        [log] = self.logs(delete_config)
        self.assertEqual((log.status, log.res_ids), ('success', str(partner_id)))

    def test_record_created_and_deleted_in_one_transaction_is_still_sent(self):
        self.create_trigger('automation', trigger='on_create_or_write')
        partner = self.env['res.partner'].create({'name': 'Ephemeral'})
        partner_id = partner.id
        partner.unlink()
        self.commit()
        self.assertEqual([received.json for received in self.api.received],
                         [{'name': 'Ephemeral', 'email': None, 'external_id': partner_id}])

    def test_rule_filter_and_config_domain_both_apply(self):
        self.create_trigger('automation', trigger='on_create', filter_domain="[('email', '!=', False)]")
        self.env['res.partner'].create([
            {'name': 'No email'},
            {'name': 'Internal with email', 'email': 'i@example.com'},
            {'name': 'Kept', 'email': 'k@example.com'},
        ])
        self.commit()
        self.assertEqual(self.sent_names(), ['Kept'])
        skipped = self.logs(self.config).filtered(lambda log: log.status == 'skipped')
        self.assertEqual(len(skipped), 1, "the config's domain skips the internal partner, and says so")

    def test_network_failure_never_breaks_the_users_operation(self):
        self.config.write({'url': free_port_url('/partners'), 'max_retries': 1})
        self.create_trigger('automation', trigger='on_create_or_write')
        partner = self.env['res.partner'].create({'name': 'Saved anyway'})
        self.commit()
        self.assertTrue(partner.exists())
        # Sent right after the commit as a delivery: its retry waits in the outbox, as Max Retries says.
        self.assertEqual(self.logs(self.config).mapped('status'), ['retry'])
        job = self.env['bj.api.sync.job'].search([('config_id', '=', self.config.id)])
        self.assertEqual((job.state, job.attempts, job.max_attempts), ('pending', 1, 2))
        job.next_attempt_at = datetime.datetime(2000, 1, 1)  # due (the transaction's now() is its start)
        self.env.flush_all()
        with self.shared_cursors():
            self.env['bj.api.sync.job']._cron_dispatch()
        self.env.invalidate_all()
        self.assertEqual(self.logs(self.config).mapped('status'), ['retry', 'error'])
        self.assertEqual(job.state, 'dead')

    def test_archived_config_stops_every_trigger(self):
        self.create_trigger('automation', trigger='on_create_or_write')
        cron = self.create_trigger('cron', changed_only=False)
        action = self.create_trigger('action')
        self.config.active = False
        partner = self.env['res.partner'].create({'name': 'Not sent'})
        self.commit()
        self.run_cron(cron)
        action.with_context(active_model='res.partner', active_ids=partner.ids, active_id=partner.id).run()
        self.assertEqual(self.api.received, [])
        logs = self.logs(self.config)
        self.assertEqual(len(logs), 3)
        self.assertEqual(set(logs.mapped('status')), {'skipped'})
        self.assertTrue(all('archived' in log.error_message for log in logs))

    def test_deleting_config_removes_its_triggers(self):
        rule = self.create_trigger('automation', trigger='on_create')
        cron = self.create_trigger('cron')
        action = self.create_trigger('action')
        self.assertEqual(
            (self.config.automation_count, self.config.cron_count, self.config.server_action_count), (1, 1, 1))
        self.config.unlink()
        self.assertFalse(rule.exists() or cron.exists() or action.exists())
