"""Python mapping lines and payload scripts (docs/reference.md, "Scripts"), including the user guide's examples."""
import datetime

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import BjApiCase

# The user guide's three script examples, as written there.
GUIDE_PHONE = """\
phone = records.phone or ''
if phone.startswith('+'):
    result = phone
else:
    result = '+1' + phone.replace('-', '').replace(' ', '')
"""
GUIDE_TOTALS = """\
total = sum(records.mapped('amount_total'))
result = {'total_revenue': total, 'order_count': len(records)}
"""
GUIDE_TIMESTAMP = """\
from datetime import datetime
result = {
    'data': request_data,
    'timestamp': datetime.now().isoformat(),
    'source': 'odoo'
}
"""


def python(key, code, **values):
    return {'api_key': key, 'value_type': 'python', 'python_code': code, **values}


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestScripts(BjApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env['res.partner'].create({
            'name': 'Olena', 'phone': '555-123 4567', 'email': 'olena@example.com', 'city': 'Lviv'})

    def sent(self, records, lines=(), **values):
        config = self.make_config(lines=lines, **values)
        result = config._make_outbound_http_request(records, config.id)
        self.assertTrue(result['success'], result)
        return self.api.received[-1].json

    def value_of(self, code, record=None):
        """The value a python line with ``code`` puts in the payload."""
        return self.sent(record or self.partner, [python('value', code)])['value']

    # ------------------------------------------------------------------ the guide's examples

    def test_guide_phone_formatting_line(self):
        lines = [('name', 'name'), python('contact_number', GUIDE_PHONE)]
        self.assertEqual(self.sent(self.partner, lines), {'name': 'Olena', 'contact_number': '+15551234567'})
        self.partner.phone = '+380 44 123 4567'
        self.assertEqual(self.sent(self.partner, lines)['contact_number'], '+380 44 123 4567')
        self.partner.phone = False
        self.assertEqual(self.sent(self.partner, lines)['contact_number'], '+1')

    def test_guide_order_totals_payload_script(self):
        if 'account.move' not in self.env:
            self.skipTest("account is not installed")
        customer = self.env['res.partner'].create({'name': 'Customer'})
        moves = self.env['account.move'].create([{
            'move_type': 'out_invoice', 'partner_id': customer.id,
            'invoice_line_ids': [(0, 0, {'name': 'Service', 'quantity': 1, 'price_unit': price, 'tax_ids': []})],
        } for price in (100.0, 250.0, 40.0)])
        self.assertEqual(moves.mapped('amount_total'), [100.0, 250.0, 40.0])
        config = self.make_config(model='account.move', name='Order totals', lines=[('ref', 'ref')],
                                  is_paginated=True, page_size=2, python_script=GUIDE_TOTALS)
        result = config._make_outbound_http_request(moves, config.id)
        self.assertTrue(result['success'], result)
        self.assertEqual([received.json for received in self.api.received], [
            {'total_revenue': 350.0, 'order_count': 2},
            {'total_revenue': 40.0, 'order_count': 1},
        ])

    def test_guide_timestamp_payload_script(self):
        before = datetime.datetime.now()
        body = self.sent(self.partner, [('name', 'name'), ('email', 'email')], python_script=GUIDE_TIMESTAMP)
        after = datetime.datetime.now()
        self.assertEqual(set(body), {'data', 'timestamp', 'source'})
        self.assertEqual(body['data'], {'name': 'Olena', 'email': 'olena@example.com'})
        self.assertEqual(body['source'], 'odoo')
        stamp = datetime.datetime.fromisoformat(body['timestamp'])
        self.assertTrue(before - datetime.timedelta(seconds=1) <= stamp <= after + datetime.timedelta(seconds=1),
                        body['timestamp'])

    def test_guide_timestamp_script_on_paginated_config_wraps_the_array(self):
        other = self.env['res.partner'].create({'name': 'Taras'})
        body = self.sent(self.partner | other, [('name', 'name')], is_paginated=True,
                         python_script=GUIDE_TIMESTAMP)
        self.assertEqual(body['data'], [{'name': 'Olena'}, {'name': 'Taras'}])

    # ------------------------------------------------------------------ lines: expressions and statements

    def test_expression_line(self):
        self.assertEqual(self.value_of('record.name.upper()'), 'OLENA')
        self.assertEqual(self.value_of("records.email.split('@')[1]"), 'example.com')
        self.assertEqual(self.value_of("{'n': len(record.name), 'ok': True}"), {'n': 5, 'ok': True})

    def test_statements_setting_result(self):
        code = "name = record.name\nparts = [name[::-1], str(len(name))]\nresult = '-'.join(parts)"
        self.assertEqual(self.value_of(code), 'anelO-5')

    def test_statements_without_result_give_null(self):
        self.assertIsNone(self.value_of("x = 1"))

    def test_request_data_holds_keys_built_so_far(self):
        body = self.sent(self.partner, [
            ('name', 'name'), ('address.city', 'city'),
            python('greeting', "'Hello ' + request_data['name'] + ' from ' + request_data['address']['city']"),
            python('keys', "sorted(request_data)"),
            ('email', 'email'),
        ])
        self.assertEqual(body['greeting'], 'Hello Olena from Lviv')
        self.assertEqual(body['keys'], ['address', 'greeting', 'name'])

    def test_payload_script_sees_and_replaces_request_data(self):
        body = self.sent(self.partner, [('name', 'name')],
                         python_script="result = dict(request_data, count=len(request_data), id=record.id)")
        self.assertEqual(body, {'name': 'Olena', 'count': 1, 'id': self.partner.id})
        body = self.sent(self.partner, [('name', 'name')], python_script="request_data['extra'] = 1")
        self.assertEqual(body, {'name': 'Olena', 'extra': 1}, "no result: the (changed) body is sent")
        body = self.sent(self.partner, [('name', 'name')], python_script="[request_data['name']]")
        self.assertEqual(body, ['Olena'], "an expression's value replaces the body")

    # ------------------------------------------------------------------ names available

    def test_env_model_and_records(self):
        self.assertEqual(self.value_of("env['res.partner'].browse(record.id).email"), 'olena@example.com')
        self.assertEqual(self.value_of("env['res.country'].search([('code', '=', 'UA')]).code"), 'UA')
        self.assertEqual(self.value_of("model._name"), 'res.partner')
        self.assertEqual(self.value_of("[len(records), records.id == record.id]"), [1, True])

    def test_json_re_base64(self):
        self.assertEqual(self.value_of("json.dumps({'a': record.name})"), '{"a": "Olena"}')
        self.assertEqual(self.value_of("json.loads('[1, 2]')"), [1, 2])
        self.assertEqual(self.value_of(r"re.sub(r'\D', '', record.phone)"), '5551234567')
        self.assertEqual(self.value_of("b64encode(record.name.encode()).decode()"), 'T2xlbmE=')
        self.assertEqual(self.value_of("b64decode('T2xlbmE=').decode()"), 'Olena')

    def test_dates_and_times(self):
        self.assertEqual(self.value_of("(datetime.date(2024, 1, 31) + relativedelta(months=1)).isoformat()"),
                         '2024-02-29')
        self.assertEqual(self.value_of("(datetime.date(2024, 1, 1) + timedelta(days=1)).isoformat()"),
                         '2024-01-02')
        year = datetime.datetime.now().year
        self.assertEqual(self.value_of("datetime.datetime.now().year"), year, "datetime as the module")
        self.assertEqual(self.value_of("datetime.now().year"), year, "datetime as the class")
        self.assertEqual(self.value_of("(datetime.now() - timedelta(hours=1)).year in (%d, %d)" % (year - 1, year)),
                         True)
        self.assertEqual(self.value_of("datetime(2024, 5, 1, 12, 30).isoformat()"), '2024-05-01T12:30:00')
        self.assertEqual(self.value_of("datetime.strptime('2024-05-01', '%Y-%m-%d').day"), 1)
        self.assertEqual(self.value_of("time.strftime('%Y')"), str(year))
        self.assertEqual(self.value_of("dateutil.parser.parse('2024-05-01').month"), 5)

    def test_datetime_values_become_iso_text(self):
        self.assertEqual(self.value_of("datetime.datetime(2024, 5, 1, 8, 0)"), '2024-05-01T08:00:00')
        self.assertEqual(self.value_of("datetime.date(2024, 5, 1)"), '2024-05-01')

    def test_allowed_imports(self):
        self.assertEqual(self.value_of("import json\nresult = json.dumps([1])"), '[1]')
        self.assertEqual(self.value_of(
            "from dateutil.relativedelta import relativedelta\n"
            "result = str(datetime.date(2024, 1, 31) + relativedelta(months=1))"), '2024-02-29')
        self.assertEqual(self.value_of("import datetime as dt\nresult = dt.date(2024, 1, 1).isoformat()"),
                         '2024-01-01')
        self.assertEqual(self.value_of("from datetime import datetime, timedelta\n"
                                       "result = (datetime(2024, 1, 1) + timedelta(days=2)).day"), 3)
        self.assertEqual(self.value_of("import re\nresult = re.findall(r'\\d+', 'a1b22')"), ['1', '22'])

    def test_refused_imports_at_save(self):
        for code in ("import os\nresult = os.getcwd()", "from subprocess import run\nresult = run",
                     "import sys", "from datetime import datetime\nimport socket\nresult = 1",
                     "from os import path as p"):
            with self.subTest(code=code):
                with self.assertRaises(ValidationError) as caught:
                    self.make_config(name='Risky import', lines=[('name', 'name'), python('computed', code)])
                message = str(caught.exception)
                self.assertIn('Risky import', message)
                self.assertIn('computed', message, "the message names the mapping line")
                self.assertIn('not allowed', message)
        config = self.make_config(name='Risky import', lines=[python('computed', 'record.name')])
        with self.assertRaises(ValidationError) as caught:
            config.line_ids.python_code = "import os\nresult = 1"
        self.assertIn('Risky import', str(caught.exception))
        self.assertIn("'os'", str(caught.exception))

    def test_refused_unsafe_code_at_save(self):
        for code in ("().__class__.__bases__[0].__subclasses__()", "result = record.__dict__",
                     "result = (", "def f(:\n  pass"):
            with self.subTest(code=code):
                with self.assertRaises(ValidationError) as caught:
                    self.make_config(name='Unsafe line', lines=[python('computed', code)])
                self.assertIn('Unsafe line', str(caught.exception))

    # ------------------------------------------------------------------ runtime failures

    def test_failing_line_fails_only_its_record(self):
        good = self.env['res.partner'].create([{'name': 'Good one'}, {'name': 'Good two'}])
        bad = self.env['res.partner'].create({'name': 'Bad'})
        records = good[0] | bad | good[1]
        config = self.make_config(name='Fragile sync', lines=[
            ('name', 'name'),
            python('ratio', "value = record.name\ndivisor = 0 if value == 'Bad' else 1\nresult = 1 / divisor"),
        ])
        result = config._make_outbound_http_request(records, config.id)
        self.assertFalse(result['success'])
        self.assertEqual([received.json for received in self.api.received], [
            {'name': 'Good one', 'ratio': 1.0}, {'name': 'Good two', 'ratio': 1.0}])
        [error] = result['errors']
        for fragment in ('Fragile sync', 'ratio', 'line 3', 'ZeroDivisionError'):
            self.assertIn(fragment, error)
        failed = [request for request in result['requests'] if not request['success']]
        self.assertEqual([request['record_ids'] for request in failed], [bad.ids])
        logs = self.logs(config)
        self.assertEqual(sorted(logs.mapped('status')), ['error', 'success', 'success'])
        error_log = logs.filtered(lambda log: log.status == 'error')
        self.assertEqual(error_log.res_ids, str(bad.id))
        self.assertEqual(error_log.attempt, 0)
        for fragment in ('Fragile sync', 'ratio', 'line 3', 'division by zero'):
            self.assertIn(fragment, error_log.error_message)
        self.assertEqual(sorted(set(result['log_ids'])), sorted(logs.ids))

    def test_one_line_failure_from_the_brief(self):
        partners = self.env['res.partner'].create([{'name': 'A'}, {'name': 'Bad'}, {'name': 'C'}])
        config = self.make_config(name='One liner', lines=[
            python('x', "result = 1 / (0 if record.name == 'Bad' else 1)")])
        result = config._make_outbound_http_request(partners, config.id)
        self.assertFalse(result['success'])
        self.assertEqual(len(self.api.received), 2)
        self.assertEqual(len(result['errors']), 1)
        self.assertIn('One liner', result['errors'][0])

    def test_unknown_attribute_fails_the_record(self):
        config = self.make_config(name='Typo sync', lines=[python('x', 'record.no_such_field')])
        result = config._make_outbound_http_request(self.partner, config.id)
        self.assertFalse(result['success'])
        self.assertFalse(self.api.received)
        [log] = self.logs(config)
        self.assertEqual(log.status, 'error')
        for fragment in ('Typo sync', '"x"', 'no_such_field'):
            self.assertIn(fragment, log.error_message)
        self.assertEqual(result['errors'], [log.error_message])

    def test_user_error_raised_by_a_script_fails_the_record(self):
        config = self.make_config(name='Picky sync', lines=[
            python('x', "if not record.email:\n    raise UserError('an email is required')\nresult = record.email")])
        nobody = self.env['res.partner'].create({'name': 'No email'})
        result = config._make_outbound_http_request(self.partner | nobody, config.id)
        self.assertFalse(result['success'])
        self.assertEqual([received.json for received in self.api.received], [{'x': 'olena@example.com'}])
        self.assertIn('an email is required', result['errors'][0])
        self.assertIn('line 2', result['errors'][0])

    def test_failing_payload_script_fails_the_request(self):
        config = self.make_config(name='Script sync', lines=[('name', 'name')],
                                  python_script="a = 1\nb = request_data['missing']\nresult = a")
        result = config._make_outbound_http_request(self.partner, config.id)
        self.assertFalse(result['success'])
        self.assertFalse(self.api.received)
        [log] = self.logs(config)
        self.assertEqual(log.status, 'error')
        for fragment in ('Script sync', 'payload script', 'line 2', 'missing'):
            self.assertIn(fragment, log.error_message)

    def test_failing_payload_script_on_one_page_does_not_stop_the_others(self):
        partners = self.env['res.partner'].create([{'name': 'A'}, {'name': 'B'}, {'name': 'Bad'}])
        config = self.make_config(name='Pages sync', lines=[('name', 'name')], is_paginated=True, page_size=2,
                                  python_script="result = [1 / (0 if d['name'] == 'Bad' else 1) for d in request_data]")
        result = config._make_outbound_http_request(partners, config.id)
        self.assertFalse(result['success'])
        self.assertEqual([received.json for received in self.api.received], [[1.0, 1.0]])
        self.assertEqual(sorted(self.logs(config).mapped('status')), ['error', 'success'])

    def test_unavailable_builtin_fails_the_record(self):
        config = self.make_config(name='Reader', lines=[python('x', "open('/etc/passwd').read()")])
        result = config._make_outbound_http_request(self.partner, config.id)
        self.assertFalse(result['success'])
        self.assertFalse(self.api.received)
        self.assertIn('Reader', result['errors'][0])
        self.assertIn('open', result['errors'][0])

    def test_non_json_result_fails_the_record(self):
        config = self.make_config(name='Odd value', lines=[python('x', 'log')])
        result = config._make_outbound_http_request(self.partner, config.id)
        self.assertFalse(result['success'])
        self.assertFalse(self.api.received)
        self.assertIn('Odd value', result['errors'][0])
        self.assertIn('JSON', result['errors'][0])

    def test_non_json_payload_script_result_fails_the_request(self):
        config = self.make_config(name='Odd body', lines=[('name', 'name')], python_script='result = {"f": log}')
        other = self.env['res.partner'].create({'name': 'Taras'})
        result = config._make_outbound_http_request(self.partner | other, config.id)
        self.assertFalse(result['success'])
        self.assertFalse(self.api.received)
        self.assertEqual(len(result['errors']), 2, "each record's request fails, none raises")
        self.assertIn('Odd body', result['errors'][0])
        self.assertIn('payload script', result['errors'][0])
        self.assertEqual(self.logs(config).mapped('status'), ['error', 'error'])

    # ------------------------------------------------------------------ log()

    def test_log_writes_to_the_server_log(self):
        with self.assertLogs('odoo.addons.bj_api_sync.script', level='INFO') as captured:
            body = self.sent(self.partner, [python('x', "log('hello')\nlog('careful', level='warning')\nresult = 1")])
        self.assertEqual(body, {'x': 1})
        self.assertIn('INFO:odoo.addons.bj_api_sync.script:hello', captured.output)
        self.assertIn('WARNING:odoo.addons.bj_api_sync.script:careful', captured.output)

    def test_log_in_payload_script(self):
        with self.assertLogs('odoo.addons.bj_api_sync.script', level='INFO') as captured:
            self.sent(self.partner, [('name', 'name')], python_script="log('sending %s' % request_data['name'])")
        self.assertIn('INFO:odoo.addons.bj_api_sync.script:sending Olena', captured.output)
