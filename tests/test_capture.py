"""Change capture: one path for every send a record change causes (``engine/outbox/capture.py``).

The native capture (Sync on create / update / delete), the rules made by the form and
automation rules written by hand as the user guide shows all deliver each record once
per transaction, from its final state, and never again for values written back.
"""
from unittest.mock import patch

from odoo.fields import Command
from odoo.tests import tagged

from ..engine.outbox import capture
from .common import BjApiCase
from .test_remote_ids import RemoteCase

# The user guide's wiring: an automation rule whose server action calls the entry point.
GUIDE_RULE_CODE = """config = env['bj.api.sync.config'].browse(%d)
config._make_outbound_http_request(record, config.id, timeout=60)
"""


def guide_rule(env, config, trigger):
    return env['base.automation'].create({
        'name': f'Guide rule: {config.name}',
        'model_id': env['ir.model']._get(config.model_name).id,
        'trigger': trigger,
        'action_server_ids': [Command.create({
            'name': f'Send through {config.name}', 'model_id': env['ir.model']._get(config.model_name).id,
            'state': 'code', 'code': GUIDE_RULE_CODE % config.id})],
    })


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestBothWirings(RemoteCase):
    """Against an API that assigns ids, the guide's hand-written rules and the one-click capture give
    the remote system the same result."""

    def wire_by_hand(self, queued):
        for config in (self.create_config, self.update_config, self.delete_config):
            config.delivery_mode = 'queued' if queued else 'immediate'
        guide_rule(self.env, self.update_config, 'on_create_or_write')
        guide_rule(self.env, self.delete_config, 'on_unlink')

    def wire_in_one_click(self, queued):
        self.create_config.delivery_mode = 'queued' if queued else 'immediate'
        action = self.create_config.action_create_sync_companions()
        companions = self.env['bj.api.sync.config'].search(action['domain']) - self.create_config
        self.assertEqual(len(companions), 2)
        self.assertFalse(companions.automation_ids)

    def dispatch(self):
        self.env.flush_all()
        with self.shared_cursors():
            self.env['bj.api.sync.job']._cron_dispatch()
        self.env.invalidate_all()

    def commit(self):
        super().commit()
        # The response values were written back after the commit: their transaction ends too.
        return super().commit()

    def immediate_scenario(self):
        partners = []
        for number in range(3):
            partners.append(self.env['res.partner'].create({'name': f'Sync Olena {number}',
                                                            'email': f'olena{number}@example.com'}))
            self.commit()
        self.assertEqual(self.requests(), [('POST', '/contacts')] * 3, "one POST per create")
        self.assertEqual([partner.ref for partner in partners], ['1', '2', '3'], "the ids were written back")
        self.assertEqual([self.link(partner).remote_id for partner in partners], ['1', '2', '3'])

        partner = partners[0]
        partner.write({'email': 'olena@crm.example.com'})
        self.commit()
        self.assertEqual(self.requests()[3:], [('PUT', '/contacts/1')], "an edit of a mapped field")
        partner.write({'email': 'olena@crm.example.com'})
        self.commit()
        partner.write({'comment': 'Not in the mapping'})
        self.commit()
        self.assertEqual(len(self.api.received), 4, "an unchanged or unmapped edit sends nothing")
        partner.unlink()
        self.commit()
        self.assertEqual(self.requests()[4:], [('DELETE', '/contacts/1')])
        self.assertEqual(sorted(self.api.contacts), ['2', '3'])

    def queued_scenario(self):
        partner = self.env['res.partner'].create({'name': 'Sync Queued', 'email': 'q@example.com'})
        self.commit()
        partner.write({'email': 'q2@example.com'})
        self.commit()
        partner.write({'email': 'q2@example.com', 'comment': 'Not in the mapping'})
        self.commit()
        partner.unlink()
        self.commit()
        self.assertEqual(self.api.received, [], "all of it is queued")
        self.dispatch()
        self.assertEqual(self.requests(), [('POST', '/contacts'), ('PUT', '/contacts/1'), ('DELETE', '/contacts/1')])
        self.assertEqual(self.api.contacts, {})
        self.assertEqual(set(self.env['bj.api.sync.job'].search([]).mapped('state')), {'done'})

    def test_guide_rule_immediate(self):
        self.wire_by_hand(queued=False)
        self.immediate_scenario()

    def test_one_click_immediate(self):
        self.wire_in_one_click(queued=False)
        self.immediate_scenario()

    def test_guide_rule_queued(self):
        self.wire_by_hand(queued=True)
        self.queued_scenario()

    def test_one_click_queued(self):
        self.wire_in_one_click(queued=True)
        self.queued_scenario()

    def test_guide_rule_runs_many_times_per_create_and_sends_once(self):
        self.wire_by_hand(queued=False)
        calls = []
        original = type(self.update_config)._make_outbound_http_request

        def spy(config, *args, **kwargs):
            result = original(config, *args, **kwargs)
            calls.append(result)
            return result

        with patch.object(type(self.update_config), '_make_outbound_http_request', spy):
            self.env['res.partner'].create({'name': 'Sync Spied', 'email': 'spied@example.com'})
            self.commit()
        self.assertGreater(len(calls), 1, "an On save rule runs several times in one create")
        self.assertTrue(all(result['deferred'] and result['success'] for result in calls))
        self.assertEqual(self.requests(), [('POST', '/contacts')], "and the record is sent once")


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestNativeCapture(BjApiCase):

    def setUp(self):
        super().setUp()
        self.config = self.make_config(
            name='Captured partners', url=self.api.url('/partners'),
            lines=[('name', 'name'), ('email', 'email'), ('id', 'id')],
            domain="[('name', 'like', 'Captured%')]",
            sync_on_create=True, sync_on_update=True, sync_on_delete=True)

    def sent(self):
        return [(received.method, received.json) for received in self.api.received]

    def test_watched_fields_are_those_the_mapping_reads(self):
        self.assertEqual(set(self.config.sync_field_ids.mapped('name')), {'name', 'email'})
        self.config.write({'line_ids': [Command.create({'api_key': 'phone', 'field_path': 'phone'})]})
        self.assertEqual(set(self.config.sync_field_ids.mapped('name')), {'name', 'email', 'phone'})
        self.config.sync_field_ids = self.env['ir.model.fields']._get('res.partner', 'email')
        partner = self.env['res.partner'].create({'name': 'Captured Watch'})
        self.commit()
        partner.name = 'Captured Watch renamed'
        self.commit()
        self.assertEqual(len(self.api.received), 1, "only the email is watched now")
        partner.email = 'watch@example.com'
        self.commit()
        self.assertEqual(self.sent()[-1][1]['email'], 'watch@example.com')
        self.config.sync_field_ids = False
        partner.comment = 'Any stored field'
        self.commit()
        self.assertEqual(len(self.api.received), 3, "no watched field: any change sends")

    def test_one_delivery_per_record_per_transaction_from_the_final_state(self):
        partner = self.env['res.partner'].create({'name': 'Captured One', 'email': 'one@example.com'})
        partner.email = 'two@example.com'
        partner.name = 'Captured One final'
        other = self.env['res.partner'].create({'name': 'Captured Two'})
        self.assertEqual(self.api.received, [], "nothing is sent before the commit")
        self.commit()
        # Two deliveries of two records, sent side by side: in either order.
        self.assertEqual(sorted(self.sent(), key=lambda sent: sent[1]['id']), [
            ('POST', {'name': 'Captured One final', 'email': 'two@example.com', 'id': partner.id}),
            ('POST', {'name': 'Captured Two', 'email': None, 'id': other.id})])

    def test_a_savepoint_plans_what_came_before_it_and_the_final_state_still_arrives(self):
        """A savepoint flushes, and each flush runs the precommit hooks: what was captured before it is
        planned then. A later change of the same record is an update of its own, so the remote system
        still ends with the record's final state."""
        partner = self.env['res.partner'].create({'name': 'Captured Savepoint'})
        with self.env.cr.savepoint():
            partner.email = 'after@example.com'
        self.commit()
        self.assertEqual(self.sent()[-1], ('POST', {'name': 'Captured Savepoint', 'email': 'after@example.com',
                                                    'id': partner.id}))

    def test_unchanged_or_unmapped_edits_send_nothing(self):
        partner = self.env['res.partner'].create({'name': 'Captured Quiet', 'email': 'q@example.com'})
        self.commit()
        partner.write({'email': 'q@example.com'})
        partner.write({'comment': 'not mapped', 'phone': '+380 44 000 00 00'})
        self.commit()
        self.assertEqual(len(self.api.received), 1)
        partner.write({'email': 'q2@example.com'})
        self.commit()
        self.assertEqual(len(self.api.received), 2)

    def test_the_domain_is_evaluated_at_commit(self):
        inside = self.env['res.partner'].create({'name': 'Not yet'})
        inside.name = 'Captured later'
        outside = self.env['res.partner'].create({'name': 'Captured at first'})
        outside.name = 'Moved out'
        self.commit()
        self.assertEqual([body['id'] for _method, body in self.sent()], [inside.id])

    def test_nothing_is_sent_for_what_rolled_back(self):
        with self.assertRaises(ValueError), self.env.cr.savepoint():
            self.env['res.partner'].create({'name': 'Captured never'})
            raise ValueError('rolled back')
        self.env.invalidate_all()
        self.commit()
        self.assertEqual(self.api.received, [])
        self.assertFalse(self.logs(self.config), "nothing to log either")

    def test_a_deleted_record_is_sent_with_its_last_payload(self):
        self.config.http_method_ids = self.method_delete
        partner = self.env['res.partner'].create({'name': 'Captured Gone', 'email': 'gone@example.com'})
        self.commit()
        self.api.reset()
        partner_id = partner.id
        partner.email = 'last@example.com'
        partner.unlink()
        self.commit()
        self.assertEqual(self.sent(), [('DELETE', {'name': 'Captured Gone', 'email': 'last@example.com',
                                                   'id': partner_id})])

    def test_only_the_chosen_events_send(self):
        self.config.write({'sync_on_create': False, 'sync_on_delete': False})
        partner = self.env['res.partner'].create({'name': 'Captured Events'})
        partner.email = 'created@example.com'
        self.commit()
        self.assertEqual(self.api.received, [], "an update-only capture does not send a record's creation")
        partner.email = 'updated@example.com'
        self.commit()
        partner.unlink()
        self.commit()
        self.assertEqual([body['email'] for _method, body in self.sent()], ['updated@example.com'])

    def test_a_write_on_many_records_sends_those_that_changed(self):
        partners = self.env['res.partner'].create([{'name': f'Captured Many {n}', 'email': f'{n}@example.com'}
                                                   for n in range(3)])
        self.commit()
        self.api.reset()
        partners.write({'email': '1@example.com'})
        self.commit()
        self.assertEqual(sorted(body['id'] for _method, body in self.sent()), sorted((partners[0] | partners[2]).ids))

    def test_a_recomputed_watched_field_sends(self):
        self.config.write({'line_ids': [Command.create({'api_key': 'company', 'field_path': 'commercial_company_name'})]})
        company = self.env['res.partner'].create({'name': 'Captured Company', 'is_company': True})
        person = self.env['res.partner'].create({'name': 'Captured Person', 'parent_id': company.id})
        self.commit()
        self.api.reset()
        company.name = 'Captured Company renamed'
        self.commit()
        sent = {body['id']: body['company'] for _method, body in self.sent()}
        self.assertEqual(sent, {company.id: 'Captured Company renamed', person.id: 'Captured Company renamed'})

    def test_queued_capture_writes_one_insert_per_transaction(self):
        self.config.delivery_mode = 'queued'
        partners = self.env['res.partner'].create([{'name': f'Captured Bulk {n}'} for n in range(1000)])
        statements = []
        cursor_class = type(self.env.cr)
        original = cursor_class.execute

        def counting(cr, query, params=None, log_exceptions=True):
            if 'INSERT INTO bj_api_sync_job' in str(query):
                statements.append(query)
            return original(cr, query, params, log_exceptions)

        with patch.object(cursor_class, 'execute', counting):
            self.commit()
        self.assertEqual(len(statements), 1)
        jobs = self.env['bj.api.sync.job'].search([('config_id', '=', self.config.id)], order='id')
        self.assertEqual([int(job.res_ids) for job in jobs], partners.ids, "one job per record, in order")
        self.assertEqual(len(set(jobs.mapped('idempotency_key'))), 1000)
        self.assertEqual(set(jobs.mapped('state')), {'pending'})

    def test_values_written_back_never_send_again(self):
        self.config.write({'response_line_ids': [Command.create({
            'response_path': 'id', 'field_id': self.env['ir.model.fields']._get('res.partner', 'ref').id})],
            'line_ids': [Command.create({'api_key': 'ref', 'field_path': 'ref'})]})
        self.api.default.body = {'id': 'R-1'}
        partner = self.env['res.partner'].create({'name': 'Captured Loop'})
        self.commit()
        self.commit()
        self.assertEqual(partner.ref, 'R-1')
        self.assertEqual(len(self.api.received), 1, "the write-back of a watched field sent nothing")

    def test_capture_stops_when_the_config_is_archived_or_deleted(self):
        Partner = self.registry['res.partner']
        self.assertTrue(capture.is_hooked(Partner, 'create'))
        self.registry.registry_invalidated = False
        self.config.active = False
        self.assertTrue(self.registry.registry_invalidated, "every worker is told to hook again")
        self.assertFalse(capture.is_hooked(Partner, 'create'))
        self.env['res.partner'].create({'name': 'Captured Archived'})
        self.commit()
        self.assertEqual(self.api.received, [])

        self.config.active = True
        self.assertTrue(capture.is_hooked(Partner, 'unlink'))
        self.registry.registry_invalidated = False
        self.config.unlink()
        self.assertTrue(self.registry.registry_invalidated)
        self.assertFalse(capture.is_hooked(Partner, 'unlink'))

    def test_a_new_automation_rule_keeps_the_capture(self):
        self.env['base.automation'].create({
            'name': 'Another rule', 'model_id': self.partner_model.id, 'trigger': 'on_create_or_write',
            'action_server_ids': [Command.create({'name': 'Nothing', 'model_id': self.partner_model.id,
                                                  'state': 'code', 'code': 'pass'})]})
        self.assertTrue(capture.is_hooked(self.registry['res.partner'], 'create'))
        self.env['res.partner'].create({'name': 'Captured With Rules'})
        self.commit()
        self.assertEqual(len(self.api.received), 1)

    def test_other_models_are_not_hooked(self):
        self.assertFalse(capture.is_hooked(self.registry['res.country'], 'write'))
        self.assertFalse(capture.is_hooked(self.registry['res.partner.category'], 'create'))
