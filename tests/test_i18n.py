"""Translations: i18n/bj_api_sync.pot is up to date, i18n/uk.po translates all of it, and the UI loads in Ukrainian."""
import os
import re

import polib
from lxml import etree, html

from odoo.exceptions import ValidationError
from odoo.tests import TransactionCase, tagged
from odoo.tools.translate import TranslationModuleReader

I18N = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'i18n')
PLACEHOLDER = re.compile(r'%\(\w+\)[sdr]|%[sdr]')
TAG = re.compile(r'</?\w+')
REGENERATE = (
    "regenerate it with: odoo-bin -d <db with bj_api_sync> --i18n-export=i18n/bj_api_sync.pot "
    "--modules=bj_api_sync --stop-after-init, then translate the new terms in i18n/uk.po")


# Latin words a Ukrainian text keeps as they are (acronyms such as URL, JSON, HTTP, ID are kept too).
TECHNICAL_WORDS = {
    # products, schemes, protocol terms, header names and parameters, sent or shown as they are
    'BJ', 'Odoo', 'Python', 'OpenAPI', 'Auth0', 'curl', 'Basic', 'Bearer', 'Standard', 'Webhooks', 'Gone', 'upsert',
    'Authorization', 'Token', 'Secret', 'audience', 'whsec',
    # names that scripts and filter domains use
    'env', 'model', 'record', 'records', 'result', 'value', 'direction', 'datetime', 'timedelta', 'relativedelta',
    'time', 'dateutil', 'json', 're', 'uid', 'user', 'log', 'id',
}
# In a word: code, a path, a URL, a placeholder, a number.
CODE_CHARACTERS = re.compile(r"[_./:=<>{}\[\]@#$%*+\\|0-9]")
CYRILLIC = re.compile('[\u0400-\u04ff]')
HEADER_NAME = re.compile(r'^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)+$')
ABBREVIATION = re.compile(r'\b(e\.g|i\.e|etc)\.')
# Code and values in straight quotes ('Authorization: Bearer <token>', {"code": "UA"}), kept as they are.
# An apostrophe inside a Ukrainian word (пов'язаний) opens no quote.
QUOTED = re.compile(r"(?<!\w)'[^'\n]*'(?!\w)|\"[^\"\n]*\"")


def catalog(name):
    return {entry.msgid: entry for entry in polib.pofile(os.path.join(I18N, name)) if not entry.obsolete}


def english_words(text):
    """The latin words of ``text`` that are not technical (codes, acronyms, header names, TECHNICAL_WORDS)."""
    words = [abbreviation.group(0) for abbreviation in ABBREVIATION.finditer(text or '')]
    for chunk in QUOTED.sub(' ', text or '').split():
        word = chunk.strip('.,;:!?()«»"\'“”…–—')
        if len(word) < 2 or CYRILLIC.search(word) or CODE_CHARACTERS.search(word) or not re.search('[A-Za-z]', word):
            continue
        if word in TECHNICAL_WORDS or HEADER_NAME.match(word) or (len(word) > 1 and word.isupper()) \
                or re.search('[a-z][A-Z]', word):
            continue
        words.append(word)
    return words


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

    def ukrainian_env(self):
        self.env['res.lang']._activate_lang('uk_UA')
        self.env['ir.module.module']._load_module_terms(['bj_api_sync'], ['uk_UA'], overwrite=True)
        return self.env(context={'lang': 'uk_UA'})

    def test_ukrainian_interface(self):
        env = self.ukrainian_env()

        self.assertEqual(env.ref('bj_api_sync.menu_bj_api_sync_outbound').name, 'Вихідні')
        self.assertEqual(env.ref('bj_api_sync.menu_bj_api_sync_inbound').name, 'Вхідні кінцеві точки')
        self.assertEqual(env.ref('bj_api_sync.menu_bj_api_sync_submapping').name, 'Вкладені зіставлення')
        self.assertEqual(env.ref('bj_api_sync.menu_bj_api_log').name, 'Журнали')
        self.assertEqual(env.ref('bj_api_sync.action_bj_api_sync_config').name, 'Конфігурації API')

        Config = env['bj.api.sync.config']
        described = Config.fields_get(['request_type', 'connection_timeout', 'read_timeout', 'line_ids', 'auth_type',
                                       'url', 'oauth2_scope'], ['string', 'help', 'selection'])
        self.assertEqual(described['request_type']['string'], 'Тип')
        self.assertEqual(dict(described['request_type']['selection']), {
            'out': 'Вихідна конфігурація', 'in': 'Вхідна кінцева точка', 'mapping': 'Вкладене зіставлення'})
        # One English word, two meanings: two terms, two translations.
        self.assertEqual(described['oauth2_scope']['string'], 'Область доступу OAuth2')
        self.assertEqual(env['bj.api.sync.link'].fields_get(['scope'])['scope']['string'], 'Область віддалених ID')
        self.assertEqual(dict(described['auth_type']['selection'])['api_key'], 'API-ключ')
        self.assertEqual(env['bj.api.sync.config.line'].fields_get(['api_key'])['api_key']['string'], 'Ключ JSON')
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
        config = Config.create({'name': 'Попередній перегляд', 'model_id': env['ir.model']._get('res.partner').id,
                                'url': 'https://api.example.com/partners',
                                'line_ids': [(0, 0, {'api_key': 'name', 'field_path': 'name'})]})
        preview = env['bj.api.sync.preview.wizard'].create({
            'config_id': config.id, 'res_id': env['res.partner'].create({'name': 'Зразок'}).id})
        self.assertFalse(preview.preview_error)
        self.assertIn('"Idempotency-Key": "(новий UUID для кожного запиту)"', preview.preview_headers)

        with self.assertRaises(ValidationError) as caught:
            Config.create({'name': 'Зламана', 'model_id': env['ir.model']._get('res.partner').id, 'url': 'ftp://x'})
        self.assertIn('приймаються лише адреси http:// та https://', str(caught.exception))

    def test_no_english_word_left_in_the_ukrainian_interface(self):
        """Every form, list and search view of the addon rendered in Ukrainian (texts, labels, help,
        placeholders, selection values of their fields), its menus, actions and model names."""
        env = self.ukrainian_env()
        found = []

        def check(where, text):
            found.extend((where, word, text) for word in english_words(text))

        views = env['ir.model.data'].search([('module', '=', 'bj_api_sync'), ('model', '=', 'ir.ui.view')])
        views = env['ir.ui.view'].browse(views.mapped('res_id')).filtered(
            lambda view: view.mode == 'primary' and view.type in ('form', 'list', 'search'))
        self.assertGreater(len(views), 15)
        checked_models = set()
        for view in views:
            rendered = env[view.model].get_views([(view.id, view.type)])
            arch = etree.fromstring(rendered['views'][view.type]['arch'])
            for element in arch.iter(etree.Element):
                where = f"{view.xml_id} <{element.tag} {element.get('name') or ''}>"
                for attribute in ('string', 'help', 'confirm', 'title'):
                    check(f"{where} {attribute}", element.get(attribute))
                # A placeholder's example (after "напр.") and a code placeholder are code, not words.
                placeholder = (element.get('placeholder') or '').split('напр.')[0]
                if not re.match(r'\s*#|.* = ', placeholder):
                    check(f"{where} placeholder", placeholder)
                if element.tag != 'code':
                    check(where, element.text)
                check(where, element.tail)
            for model, described in rendered['models'].items():
                if not model.startswith('bj.') or model in checked_models:
                    continue
                checked_models.add(model)
                for name, field in described['fields'].items():
                    for key in ('string', 'help'):
                        check(f"{model}.{name} {key}", field.get(key))
                    # Models are named by their own modules' translations (ours: below, through ir.model).
                    for value, label in field.get('selection') or () if name != 'res_model' else ():
                        check(f"{model}.{name} selection {value}", label)
        self.assertGreaterEqual(len(checked_models), 8)

        for xmlid in env['ir.model.data'].search([('module', '=', 'bj_api_sync'),
                                                  ('model', 'in', ('ir.ui.menu', 'ir.actions.act_window'))]):
            record = env[xmlid.model].browse(xmlid.res_id)
            check(xmlid.complete_name, record.name)
            if xmlid.model == 'ir.actions.act_window' and record.help:
                check(f"{xmlid.complete_name} help", html.fromstring(record.help).text_content())
        for model in env['ir.model'].search([('model', '=like', 'bj.%')]):
            check(f"ir.model {model.model}", model.name)

        self.assertFalse(found, "English words in the Ukrainian interface:\n" + '\n'.join(
            f"{where}: {word!r} in {' '.join(text.split())!r}" for where, word, text in found))
