"""Translations: i18n/bj_api_sync.pot is up to date, i18n/uk.po translates all of it, and the UI loads in Ukrainian."""
import os
import re

import polib

from odoo.exceptions import ValidationError
from odoo.tests import TransactionCase, tagged
from odoo.tools.translate import TranslationModuleReader

I18N = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'i18n')
PLACEHOLDER = re.compile(r'%\(\w+\)[sdr]|%[sdr]')
TAG = re.compile(r'</?\w+')
REGENERATE = (
    "regenerate it with: odoo-bin -d <db with bj_api_sync> --i18n-export=i18n/bj_api_sync.pot "
    "--modules=bj_api_sync --stop-after-init, then translate the new terms in i18n/uk.po")


def catalog(name):
    return {entry.msgid: entry for entry in polib.pofile(os.path.join(I18N, name)) if not entry.obsolete}


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestI18n(TransactionCase):

    def test_uk_po_translates_every_term_of_the_pot(self):
        pot, uk = catalog('bj_api_sync.pot'), catalog('uk.po')
        self.assertGreater(len(pot), 100)
        untranslated = [msgid for msgid in pot if not (uk.get(msgid) and uk[msgid].msgstr.strip())]
        self.assertEqual(untranslated, [], "terms of the .pot without a Ukrainian translation in uk.po")
        self.assertEqual(sorted(set(uk) - set(pot)), [], "uk.po translates terms that are no longer in the .pot")
        for msgid, entry in uk.items():
            self.assertNotIn('fuzzy', entry.flags, msgid)
            self.assertEqual(sorted(PLACEHOLDER.findall(entry.msgstr)), sorted(PLACEHOLDER.findall(msgid)),
                             f"placeholders differ in the translation of {msgid!r}")
            self.assertEqual(sorted(TAG.findall(entry.msgstr)), sorted(TAG.findall(msgid)),
                             f"markup differs in the translation of {msgid!r}")

    def test_pot_is_up_to_date(self):
        terms = {source for _module, _type, _name, _res_id, source, _value, _comments
                 in TranslationModuleReader(self.env.cr, modules=['bj_api_sync'])}
        pot = set(catalog('bj_api_sync.pot'))
        self.assertEqual(sorted(terms - pot), [], f"terms missing from i18n/bj_api_sync.pot; {REGENERATE}")
        self.assertEqual(sorted(pot - terms), [], f"terms of i18n/bj_api_sync.pot no longer in the code; {REGENERATE}")

    def test_ukrainian_interface(self):
        self.env['res.lang']._activate_lang('uk_UA')
        self.env['ir.module.module']._load_module_terms(['bj_api_sync'], ['uk_UA'], overwrite=True)
        env = self.env(context={'lang': 'uk_UA'})

        self.assertEqual(env.ref('bj_api_sync.menu_bj_api_sync_config').name, 'Конфігурації API')
        self.assertEqual(env.ref('bj_api_sync.menu_bj_api_log').name, 'Журнали')
        self.assertEqual(env.ref('bj_api_sync.action_bj_api_sync_config').name, 'Конфігурації API')

        Config = env['bj.api.sync.config']
        described = Config.fields_get(['request_type', 'connection_timeout', 'read_timeout', 'line_ids', 'auth_type',
                                       'url'], ['string', 'help', 'selection'])
        self.assertEqual(described['request_type']['string'], 'Тип запиту')
        self.assertEqual(described['connection_timeout']['string'], "Таймаут з'єднання")
        self.assertEqual(described['read_timeout']['string'], 'Таймаут читання')
        self.assertEqual(described['line_ids']['string'], 'Зіставлення полів')
        self.assertEqual(described['url']['string'], 'URL запиту')
        self.assertIn('кінцева точка', described['url']['help'])
        self.assertEqual(dict(described['auth_type']['selection'])['basic'], 'Базова автентифікація')
        value_types = dict(env['bj.api.sync.config.line'].fields_get(['value_type'])['value_type']['selection'])
        self.assertEqual((value_types['plain'], value_types['relational']), ('Звичайний', 'Реляційний'))

        form = Config.get_views([(False, 'form')])['views']['form']['arch']
        for term in ('Попередній перегляд', 'Надіслати тест', 'Зіставлення полів', 'Автентифікація', 'Заголовки',
                     'Доступні імена'):
            self.assertIn(term, form)
        self.assertNotIn('Preview Payload', form)
        wizard = env['bj.api.sync.preview.wizard'].get_views([(False, 'form')])['views']['form']['arch']
        self.assertIn('Цей запит не буде надіслано', wizard)

        with self.assertRaises(ValidationError) as caught:
            Config.create({'name': 'Зламана', 'model_id': env['ir.model']._get('res.partner').id, 'url': 'ftp://x'})
        self.assertIn('приймаються лише адреси http:// та https://', str(caught.exception))
