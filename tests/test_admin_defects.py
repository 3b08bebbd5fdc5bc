"""Defects an administrator hit on the forms: each pinned by a test."""
from lxml import etree

from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from .common import BjApiCase


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestAdminDefects(BjApiCase):

    def test_an_http_method_in_use_cannot_be_deleted(self):
        patch_method = self.env['bj.http.method'].create({'name': 'PATCH-TEST'})
        config = self.make_config(name='Uses it', method=patch_method, lines=[('name', 'name')])
        config.action_archive()
        with self.assertRaises(UserError) as caught:
            patch_method.unlink()
        self.assertIn('PATCH-TEST', str(caught.exception))
        self.assertIn('"Uses it"', str(caught.exception))
        self.assertEqual(config.http_method_ids, patch_method)
        config.unlink()
        patch_method.unlink()
        self.assertFalse(patch_method.exists())

    def test_mapping_picks_fields_by_technical_name_and_dotted_path(self):
        arch = self.env['bj.api.sync.config'].get_views([(False, 'form')])['views']['form']['arch']
        mapping = etree.fromstring(arch).xpath("//field[@name='line_ids']/list")[0]
        [path] = mapping.xpath("field[@name='field_path']")
        self.assertEqual(path.get('widget'), 'bj_field_path')
        self.assertIn("'model': 'model_name'", path.get('options'))
        # The label-only picker is gone, and no column stays empty for most lines.
        self.assertEqual(mapping.xpath("field[@name='field_id']")[0].get('column_invisible'), 'True')
        shown = [field.get('name') for field in mapping.xpath('field')
                 if field.get('column_invisible') != 'True' and field.get('optional') != 'hide']
        self.assertEqual(shown, ['sequence', 'api_key', 'value_type', 'field_path', 'value_text'])

        config = self.make_config(lines=[('name', 'name')])
        with Form(config) as form:
            with form.line_ids.new() as line:
                line.api_key = 'company'
                line.field_path = 'parent_id.name'
                self.assertEqual(line.field_id.name, 'parent_id')
            with form.line_ids.new() as line:
                line.api_key = 'source'
                line.value_type = 'constant'
                line.value_text = 'odoo'
        self.assertEqual([(line.api_key, line.field_path, line.constant_value) for line in config.line_ids],
                         [('name', 'name', False), ('company', 'parent_id.name', False), ('source', False, 'odoo')])

    def test_field_id_follows_a_field_path_written_by_code(self):
        config = self.make_config(lines=[('name', 'name'), ('company', 'parent_id.name')])
        name_line, company_line = config.line_ids
        self.assertEqual((name_line.field_id.name, company_line.field_id.name), ('name', 'parent_id'))
        name_line.field_path = 'email'
        self.assertEqual(name_line.field_id.name, 'email')
        company_line.field_path = 'parent_id.email'
        self.assertEqual((company_line.field_id.name, company_line.field_path), ('parent_id', 'parent_id.email'))
        name_line.write({'value_type': 'python', 'field_path': False, 'python_code': "'x'"})
        self.assertFalse(name_line.field_id)

    def test_identifier_says_what_it_does(self):
        described = self.env['bj.api.sync.config.line'].fields_get(['is_identifier'], ['help'])
        self.assertIn('at most one', described['is_identifier']['help'])
        self.assertIn('inbound', described['is_identifier']['help'])

    def test_trigger_wizard_names_what_it_creates(self):
        config = self.make_config(lines=[('name', 'name')])
        action = config.with_context(trigger_kind='automation').action_create_trigger()
        self.assertEqual(action['name'], 'Create Automation Rule')
        self.assertEqual(action['context']['default_kind'], 'automation')
        Wizard = self.env['bj.api.sync.trigger.wizard']
        described = Wizard.fields_get(['config_id'], ['string'])
        self.assertEqual(described['config_id']['string'], 'API Configuration')
        self.assertNotIn('queued', Wizard._fields)
        arch = etree.fromstring(Wizard.get_views([(False, 'form')])['views']['form']['arch'])
        # The kind is asked only when the wizard is opened without one (the buttons always give it).
        self.assertEqual(arch.xpath("//field[@name='kind']")[0].get('invisible'), "context.get('default_kind')")
        # Long (Ukrainian) trigger labels get a whole line each.
        self.assertEqual(arch.xpath("//field[@name='trigger']")[0].get('widget'), 'radio')
        self.assertFalse(arch.xpath("//group/group"), "one column, no half-width groups")


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestStartScript(BjApiCase):
    """scripts/start is the README's first command: what the user guide's examples need is installed,
    and "ready" is said only once the web page answers (tried by hand: see the issue note)."""

    def test_start_installs_what_the_guide_needs_and_waits_for_the_page(self):
        import os
        path = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'scripts', 'start')
        with open(path, encoding='utf-8') as script:
            text = script.read()
        self.assertIn('START_MODULES="${BJ_START_MODULES-contacts,account}"', text)
        self.assertIn('-i "${START_MODULES:+$START_MODULES,}$ADDON"', text)
        ready = text.index('log "ready:')
        self.assertLess(text.index('/web/login'), ready)
        self.assertLess(text.rindex('urlopen', 0, ready), ready)
