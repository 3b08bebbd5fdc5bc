"""Log rows written in batches, and never lost: a call's rows go to the database a hundred at a time,
and the journal of a process killed in the middle of a call is written by the next recovery, once."""
import gc
import json
import os
import signal
import time
import uuid

from odoo import SUPERUSER_ID, api, sql_db
from odoo.tests import tagged

from ..engine.shared import logbook
from .common import BjApiCase
from .test_outbox_batch import statements

REQUESTS = 250
KILL_AT = 120


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestBatchedLogRows(BjApiCase):

    def test_the_rows_of_a_call_are_written_a_hundred_at_a_time(self):
        config = self.make_config(lines=[('name', 'name')])
        partners = self.env['res.partner'].create([{'name': f'Logged {number}'} for number in range(REQUESTS)])
        with statements() as sent:
            result = config._make_outbound_http_request(partners)
        self.assertTrue(result['success'], result['errors'][:3])
        self.assertEqual(len(self.api.received), REQUESTS)
        inserts = [statement for statement in sent if 'INSERT INTO bj_api_log' in statement]
        reserved = [statement for statement in sent if 'bj_api_log_id_seq' in statement]
        # The first row at once (a call of one record costs one INSERT, as before), then 100 at a time.
        self.assertEqual(len(inserts), 1 + -(-(REQUESTS - 1) // logbook.BATCH_ROWS))
        self.assertEqual(len(reserved), -(-(REQUESTS - 1) // logbook.BATCH_ROWS))
        logs = self.env['bj.api.log'].browse(result['log_ids'])
        self.assertEqual(len(logs.exists()), REQUESTS)
        self.assertEqual(logs.mapped('res_ids'), [str(partner.id) for partner in partners])
        self.assertEqual([request['log_id'] for request in result['requests']], result['log_ids'])
        self.assertEqual(set(logs.mapped('status')), {'success'})


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestJournal(BjApiCase):
    """Works with committed data in cursors of its own (a killed process sees only what is committed),
    removed afterwards."""

    def setUp(self):
        super().setUp()
        self.path = f'/journal-{uuid.uuid4().hex}'
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            self.config_id = env['bj.api.sync.config'].create({
                'name': 'BJ journal test (removed after the test)',
                'model_id': env['ir.model']._get('res.partner').id,
                'url': self.api.url(self.path),
                'http_method_ids': [(6, 0, env.ref('bj_api_sync.http_method_post').ids)],
                'line_ids': [(0, 0, {'api_key': 'name', 'field_path': 'name'})],
            }).id
            self.partner_ids = env['res.partner'].create(
                [{'name': f'Journal {number}'} for number in range(REQUESTS)]).ids
        self.addCleanup(self.remove)

    def remove(self):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM bj_api_log WHERE url LIKE %s", [f'%{self.path}'])
            env = api.Environment(cr, SUPERUSER_ID, {})
            env['bj.api.sync.config'].browse(self.config_id).unlink()
            env['res.partner'].browse(self.partner_ids).unlink()

    def committed_rows(self):
        with self.registry.cursor() as cr:
            cr.execute("SELECT id, status, res_ids FROM bj_api_log WHERE url LIKE %s ORDER BY id", [f'%{self.path}'])
            return cr.fetchall()

    def test_a_process_killed_in_the_middle_of_a_call_loses_no_row(self):
        dbname = self.env.cr.dbname
        child = os.fork()
        if child == 0:
            # The killed process: a connection of its own (never one of the pool it inherited), a call
            # of REQUESTS records, never committed.
            try:
                sql_db._Pool = None  # noqa: SLF001 - the parent's connections are not this process's
                cr = sql_db.db_connect(dbname).cursor()
                env = api.Environment(cr, SUPERUSER_ID, {})
                env['bj.api.sync.config'].browse(self.config_id)._make_outbound_http_request(self.partner_ids)
                time.sleep(60)
            finally:
                os._exit(1)
        started = time.monotonic()
        while len(self.api.received) < KILL_AT and time.monotonic() - started < 60:
            time.sleep(0.001)
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        sent = len(self.api.received)
        self.assertGreaterEqual(sent, KILL_AT)
        self.assertEqual(self.committed_rows(), [], "the call's transaction died with its process")
        self.assertGreaterEqual(logbook.recover(self.registry), sent - 1)
        rows = self.committed_rows()
        # Every request the API answered has its row; the one on the wire when the process died may not.
        self.assertIn(len(rows), (sent - 1, sent))
        self.assertEqual([res_ids for _id, _status, res_ids in rows],
                         [str(partner_id) for partner_id in self.partner_ids[:len(rows)]])
        self.assertEqual(logbook.recover(self.registry), 0)
        self.assertEqual(self.committed_rows(), rows)

    def test_recovery_writes_each_row_once(self):
        # The journal of a dead process: a row committed before it died, one written but not committed,
        # one never written.
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            directory = logbook._HOST.directory(env)
            values = [logbook.row(f'Row {number}', 'success', [self.partner_ids[number]], config_id=self.config_id,
                                  url=self.api.url(self.path)) for number in range(3)]
            [committed_id] = logbook.insert(cr, [values[0]], SUPERUSER_ID)
            cr.execute("SELECT nextval('bj_api_log_id_seq')")
            [uncommitted_id] = cr.fetchone()
        token = uuid.uuid4().hex
        with open(os.path.join(directory, f'{token}.lock'), 'wb'):
            pass
        with open(os.path.join(directory, f'{token}-1.jsonl'), 'w') as journal:
            for number, log_id in enumerate((committed_id, None, None), start=1):
                journal.write(json.dumps({'row': number, 'id': log_id, 'values': values[number - 1]}) + '\n')
            journal.write(json.dumps({'ids': [[2, uncommitted_id]]}) + '\n')
            journal.write('{"row": 4, "id"')  # cut short by the death of its process
        self.assertEqual(logbook.recover(self.registry), 2, "the row committed before the process died is not written again")
        rows = self.committed_rows()
        self.assertEqual([res_ids for _id, _status, res_ids in rows], [str(partner_id) for partner_id in self.partner_ids[:3]])
        self.assertEqual([log_id for log_id, _status, _res_ids in rows[:2]], [committed_id, uncommitted_id])
        self.assertFalse(os.path.exists(os.path.join(directory, f'{token}-1.jsonl')))
        self.assertFalse(os.path.exists(os.path.join(directory, f'{token}.lock')))
        self.assertEqual(logbook.recover(self.registry), 0)
        self.assertEqual(self.committed_rows(), rows)

    def test_a_live_process_journal_is_left_alone(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            book = logbook.LogBook(env)
            book.write(logbook.row('Kept', 'success', [self.partner_ids[0]], config_id=self.config_id,
                                   url=self.api.url(self.path)))
            journal = book._journal
            self.assertTrue(os.path.exists(journal.path))
            self.assertEqual(logbook.recover(self.registry), 0, "this process lives: its journals are its own")
            cr.rollback()  # the row is written again, in a transaction of its own
        self.assertEqual(os.path.getsize(journal.path), 0)
        path = journal.path
        del book, journal  # a log book forgotten takes its journal with it
        gc.collect()
        self.assertFalse(os.path.exists(path))
        self.assertEqual([status for _id, status, _res_ids in self.committed_rows()], ['success'])
