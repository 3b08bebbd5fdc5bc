"""Remote ids and response processing, against an API that assigns ids the way REST APIs do:
POST answers 201 with a new id; PUT, PATCH and DELETE of an unknown id answer 404."""
import json
import re
from unittest.mock import patch

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .common import BjApiCase, FakeApi, Reply

ITEM_PATH = re.compile(r'^/contacts/(\w+)$')


class RestApi(FakeApi):
    """Keeps the contacts it was sent, gives each a new id on POST (an array in, an array out)."""

    def __init__(self):
        super().__init__()
        self.contacts = {}

    def _record(self, received):
        scripted = super()._record(received)
        if scripted is not self.default:
            return scripted
        with self._lock:
            return self._answer(received)

    def _answer(self, received):
        if received.method == 'POST' and received.path == '/contacts':
            items = received.json if isinstance(received.json, list) else [received.json]
            answers = []
            for item in items:
                new_id = str(len(self.contacts) + 1)
                self.contacts[new_id] = item
                answers.append({'id': new_id, 'status': 'created'})
            return Reply(201, answers if isinstance(received.json, list) else answers[0])
        match = ITEM_PATH.match(received.path)
        if not match or match.group(1) not in self.contacts:
            return Reply(404, {'error': 'no such contact'})
        if received.method == 'DELETE':
            del self.contacts[match.group(1)]
            return Reply(204, b'')
        self.contacts[match.group(1)].update(received.json or {})
        return Reply(200, {'id': match.group(1), 'status': 'updated'})

    def reset(self):
        result = super().reset()
        self.contacts = {}
        return result


class RemoteCase(BjApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api.stop()
        cls.api = RestApi().start()
        cls.method_patch = cls.env.ref('bj_api_sync.http_method_patch')
        lines = [(0, 0, {'api_key': 'name', 'field_path': 'name'}),
                 (0, 0, {'api_key': 'email', 'field_path': 'email'}),
                 (0, 0, {'api_key': 'external_ref', 'field_path': 'ref'})]
        common = {'model_id': cls.partner_model.id, 'remote_id_scope': 'crm.contacts', 'line_ids': lines,
                  'domain': "[('name', 'like', 'Sync%')]"}
        Config = cls.env['bj.api.sync.config']
        cls.create_config = Config.create({
            **common, 'name': 'CRM create', 'url': cls.api.url('/contacts'),
            'http_method_ids': [(6, 0, cls.method_post.ids)], 'remote_id_path': 'id',
            'response_line_ids': [(0, 0, {'response_path': 'id',
                                          'field_id': cls.env['ir.model.fields']._get('res.partner', 'ref').id})],
        })
        cls.update_config = Config.create({
            **common, 'name': 'CRM update', 'url': cls.api.url('/contacts/{remote_id}'),
            'http_method_ids': [(6, 0, cls.method_put.ids)], 'fallback_config_id': cls.create_config.id,
            'skip_unchanged': True,
        })
        cls.delete_config = Config.create({
            **common, 'name': 'CRM delete', 'url': cls.api.url('/contacts/{remote_id}'),
            'http_method_ids': [(6, 0, cls.method_delete.ids)], 'line_ids': [(0, 0, {'api_key': 'name',
                                                                                    'field_path': 'name'})],
        })

    def setUp(self):
        super().setUp()
        self.api.reset()

    def link(self, partner):
        return self.env['bj.api.sync.link'].search([('scope', '=', 'crm.contacts'), ('res_model', '=', 'res.partner'),
                                                    ('res_id', '=', partner.id)])

    def wire_rules(self, queued=False):
        for config in (self.update_config, self.create_config, self.delete_config):
            config.delivery_mode = 'queued' if queued else 'immediate'
        Wizard = self.env['bj.api.sync.trigger.wizard']
        for config, trigger in ((self.update_config, 'on_create_or_write'), (self.delete_config, 'on_unlink')):
            Wizard.create({'config_id': config.id, 'kind': 'automation', 'trigger': trigger}).action_create()

    def requests(self):
        return [(received.method, received.path) for received in self.api.received]


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestRemoteIds(RemoteCase):

    def test_create_update_delete_keep_the_crm_in_sync(self):
        self.wire_rules()
        partner = self.env['res.partner'].create({'name': 'Sync Olena', 'email': 'olena@example.com'})
        self.commit()
        self.assertEqual(self.requests(), [('POST', '/contacts')], "the record had no remote id: the fallback POSTs")
        link = self.link(partner)
        self.assertEqual((link.remote_id, link.config_id), ('1', self.create_config))
        self.assertEqual(partner.ref, '1', "the response value was written back")
        self.commit()
        self.assertEqual(len(self.api.received), 1, "writing the response back sent nothing more")

        partner.write({'email': 'olena@crm.example.com'})
        self.commit()
        self.assertEqual(self.requests()[1:], [('PUT', '/contacts/1')])
        self.assertEqual(self.api.contacts['1']['email'], 'olena@crm.example.com')

        partner.write({'phone': '555'})
        self.commit()
        self.assertEqual(len(self.api.received), 2, "a write the mapping does not read sends nothing")

        partner.unlink()
        self.commit()
        self.assertEqual(self.requests()[2:], [('DELETE', '/contacts/1')])
        self.assertFalse(self.link(partner))
        self.assertEqual(self.api.contacts, {})

    def test_an_unchanged_payload_is_skipped(self):
        partner = self.env['res.partner'].create({'name': 'Sync Same', 'email': 'same@example.com'})
        self.create_config._make_outbound_http_request(partner)
        first = self.update_config._make_outbound_http_request(partner)
        self.assertEqual(first['status_code'], 200, "the remote id written back changed the payload")
        second = self.update_config._make_outbound_http_request(partner)
        self.assertEqual(second['skipped_ids'], [partner.id])
        self.assertEqual(len(self.api.received), 2)
        log = self.env['bj.api.log'].search([('config_id', '=', self.update_config.id)], order='id desc', limit=1)
        self.assertEqual(log.status, 'skipped')
        self.assertIn('unchanged', log.error_message)

    def test_without_a_fallback_a_record_without_remote_id_is_skipped(self):
        self.update_config.fallback_config_id = False
        partner = self.env['res.partner'].create({'name': 'Sync Unknown'})
        result = self.update_config._make_outbound_http_request(partner)
        self.assertEqual(result['skipped_ids'], [partner.id])
        self.assertEqual(self.api.received, [])
        log = self.env['bj.api.log'].search([('config_id', '=', self.update_config.id)], limit=1)
        self.assertIn('no remote id in scope crm.contacts', log.error_message)

    def test_delete_of_an_object_already_gone_drops_the_link(self):
        partner = self.env['res.partner'].create({'name': 'Sync Gone'})
        self.create_config._make_outbound_http_request(partner)
        self.api.contacts.clear()  # removed on the other side
        result = self.delete_config._make_outbound_http_request(partner)
        self.assertEqual((result['success'], result['status_code']), (True, 404))
        self.assertFalse(self.link(partner))

    def test_put_to_an_unknown_id_fails(self):
        partner = self.env['res.partner'].create({'name': 'Sync Lost'})
        self.create_config._make_outbound_http_request(partner)
        self.api.contacts.clear()
        partner.email = 'lost@example.com'
        result = self.update_config._make_outbound_http_request(partner)
        self.assertEqual((result['success'], result['status_code']), (False, 404))
        self.assertEqual(self.link(partner).remote_id, '1', "the link is kept: the failure is the API's to explain")

    def test_response_problems_are_told_and_nothing_is_lost(self):
        partner = self.env['res.partner'].create({'name': 'Sync Odd'})
        cases = [
            (Reply(201, {'data': {'id': 7}}), "no remote id at 'id'"),
            (Reply(201, 'created, thanks', headers={'Content-Type': 'text/plain'}), 'not JSON'),
        ]
        for reply, told in cases:
            with self.subTest(told=told):
                self.api.reply(reply)
                result = self.create_config._make_outbound_http_request(partner)
                self.assertTrue(result['success'], "the delivery still counts as sent")
                log = self.env['bj.api.log'].browse(result['log_ids'][-1])
                self.assertEqual(log.status, 'success')
                self.assertIn(told, log.error_message)

    def test_a_value_that_cannot_be_written_is_told_and_the_link_kept(self):
        self.create_config.response_line_ids = [(0, 0, {
            'response_path': 'status', 'field_id': self.env['ir.model.fields']._get('res.partner', 'partner_latitude').id})]
        partner = self.env['res.partner'].create({'name': 'Sync Typed'})
        result = self.create_config._make_outbound_http_request(partner)
        self.assertTrue(result['success'])
        log = self.env['bj.api.log'].browse(result['log_ids'][-1])
        self.assertIn("could not be written to partner_latitude", log.error_message)
        self.assertEqual(self.link(partner).remote_id, '1')
        self.assertEqual(partner.ref, '1', "the other values are written")

    def test_paginated_ids_are_mapped_item_by_item(self):
        self.create_config.write({'is_paginated': True, 'page_size': 3})
        partners = self.env['res.partner'].create([{'name': f'Sync Page {number}'} for number in range(5)])
        result = self.create_config._make_outbound_http_request(partners)
        self.assertTrue(result['success'])
        self.assertEqual([len(received.json) for received in self.api.received], [3, 2])
        self.assertEqual([self.link(partner).remote_id for partner in partners], ['1', '2', '3', '4', '5'])
        self.api.reply(Reply(201, [{'id': 'x'}]))  # one item for a page of three
        more = self.env['res.partner'].create([{'name': f'Sync More {number}'} for number in range(3)])
        result = self.create_config._make_outbound_http_request(more)
        log = self.env['bj.api.log'].browse(result['log_ids'][-1])
        self.assertIn('not an array of 3 items', log.error_message)
        self.assertFalse(any(self.link(partner).remote_id for partner in more))

    def test_queued_create_update_delete_before_the_dispatcher_runs(self):
        self.wire_rules(queued=True)
        partner = self.env['res.partner'].create({'name': 'Sync Queued', 'email': 'q@example.com'})
        self.commit()
        partner.write({'email': 'q2@example.com'})
        self.commit()
        partner.unlink()
        self.commit()
        self.assertEqual(self.api.received, [], "all three are queued")
        jobs = self.env['bj.api.sync.job'].search([('config_id', 'in', (self.update_config | self.delete_config).ids)])
        self.assertEqual(len(set(jobs.mapped('ordering_key'))), 1, "one record, one scope: one order")
        self.env.flush_all()
        with self.shared_cursors():
            self.env['bj.api.sync.job']._cron_dispatch()
        self.env.invalidate_all()
        self.assertEqual(self.requests(), [('POST', '/contacts'), ('PUT', '/contacts/1'), ('DELETE', '/contacts/1')])
        self.assertEqual(set(jobs.mapped('state')), {'done'})
        self.assertEqual(self.api.contacts, {})

    def test_patch_is_available(self):
        self.update_config.http_method_ids = self.method_patch
        partner = self.env['res.partner'].create({'name': 'Sync Patch'})
        self.create_config._make_outbound_http_request(partner)
        partner.email = 'p@example.com'
        self.update_config._make_outbound_http_request(partner)
        self.assertEqual(self.requests()[-1], ('PATCH', '/contacts/1'))
        self.assertEqual(json.loads(self.api.received[-1].body)['email'], 'p@example.com')

    def test_fallback_on_another_model_or_in_a_loop_is_refused(self):
        country = self.env['bj.api.sync.config'].create({
            'name': 'Countries', 'model_id': self.env['ir.model']._get('res.country').id,
            'url': self.api.url('/countries'), 'http_method_ids': [(6, 0, self.method_post.ids)]})
        with self.assertRaisesRegex(ValidationError, 'sends res.country records'), self.env.cr.savepoint():
            self.update_config.fallback_config_id = country
            self.env.flush_all()
        self.env.invalidate_all()
        with self.assertRaisesRegex(ValidationError, 'a loop'), self.env.cr.savepoint():
            self.create_config.fallback_config_id = self.update_config
            self.env.flush_all()

    def preview(self, config, partner):
        return self.env['bj.api.sync.preview.wizard'].create({'config_id': config.id, 'res_id': partner.id})

    def test_preview_shows_the_remote_id_or_why_it_falls_back_or_skips(self):
        partner = self.env['res.partner'].create({'name': 'Sync Preview'})
        wizard = self.preview(self.update_config, partner)
        self.assertIn('fallback configuration "CRM create"', wizard.preview_notice)
        self.assertEqual((wizard.preview_method, wizard.preview_url), ('POST', self.api.url('/contacts')))
        self.create_config._make_outbound_http_request(partner)
        wizard = self.preview(self.update_config, partner)
        self.assertIn('Remote id in scope crm.contacts: 1.', wizard.preview_notice)
        self.assertEqual((wizard.preview_method, wizard.preview_url), ('PUT', self.api.url('/contacts/1')))
        other = self.env['res.partner'].create({'name': 'Sync Preview Unknown'})
        self.update_config.fallback_config_id = False
        wizard = self.preview(self.update_config, other)
        self.assertIn('no remote id in scope crm.contacts', wizard.preview_notice)
        self.assertFalse(wizard.preview_url)

    def test_scripts_see_the_remote_id(self):
        self.update_config.line_ids = [(0, 0, {'api_key': 'crm_id', 'value_type': 'python',
                                               'python_code': "remote_id or 'none yet'"})]
        partner = self.env['res.partner'].create({'name': 'Sync Script'})
        self.create_config._make_outbound_http_request(partner)
        self.update_config._make_outbound_http_request(partner)
        self.assertEqual(self.api.received[-1].json['crm_id'], '1')

    def test_one_click_creates_the_companions_synced_by_the_capture(self):
        post = self.create_config.copy({'name': 'CRM one click', 'remote_id_scope': False})
        action = post.action_create_sync_companions()
        configs = self.env['bj.api.sync.config'].search(action['domain'])
        update = configs.filtered(lambda config: config.http_method_ids.name == 'PUT')
        delete = configs.filtered(lambda config: config.http_method_ids.name == 'DELETE')
        self.assertEqual(len(configs), 3)
        self.assertEqual(update.url, self.api.url('/contacts/{remote_id}'))
        self.assertEqual((update.fallback_config_id, update.skip_unchanged), (post, True))
        self.assertEqual(set(configs.mapped('remote_id_scope')), {post._remote_scope()})
        self.assertEqual(update.line_ids.mapped('api_key'), post.line_ids.mapped('api_key'))
        self.assertFalse(configs.automation_ids, "the change capture wires them, not automation rules")
        self.assertEqual((update.sync_on_create, update.sync_on_update, update.sync_on_delete), (True, True, False))
        self.assertEqual((delete.sync_on_create, delete.sync_on_update, delete.sync_on_delete), (False, False, True))
        self.assertEqual(set(update.sync_field_ids.mapped('name')), {'name', 'email', 'ref'})

        partner = self.env['res.partner'].create({'name': 'Sync One Click', 'email': 'one@example.com'})
        self.commit()
        partner.email = 'two@example.com'
        self.commit()
        partner.unlink()
        self.commit()
        self.assertEqual(self.requests(), [('POST', '/contacts'), ('PUT', '/contacts/1'), ('DELETE', '/contacts/1')])

    def test_one_click_needs_a_post_with_a_remote_id_path(self):
        with self.assertRaisesRegex(UserError, 'companions are made from a POST configuration'):
            self.update_config.action_create_sync_companions()

    def test_link_statements_per_page_stay_constant(self):
        self.create_config.write({'is_paginated': True, 'page_size': 3, 'line_ids': [(0, 0, {
            'api_key': 'known_as', 'value_type': 'python', 'python_code': 'remote_id'})]})
        cursor_class = type(self.env.cr)
        original = cursor_class.execute

        def link_statements(count):
            partners = self.env['res.partner'].create([{'name': f'Sync Batch {count} {n}'} for n in range(count)])
            seen = []

            def counting(cr, query, params=None, log_exceptions=True):
                if 'bj_api_sync_link' in str(query):
                    seen.append(query)
                return original(cr, query, params, log_exceptions)

            with patch.object(cursor_class, 'execute', counting):
                self.create_config._make_outbound_http_request(partners)
            return len(seen)

        # Per page: one lookup (remote_id for the script), one upsert of the page's links.
        self.assertEqual(link_statements(6), 2 * 2)
        self.assertEqual(link_statements(12), 4 * 2)
