"""The dispatcher's round trips: a turn's claims and outcomes are batched, a broken delivery is
isolated without a savepoint per delivery, and a run that sent something looks again soon."""
import contextlib
import datetime
from unittest.mock import patch

from odoo import sql_db
from odoo.tests import tagged

from ..engine.outbound import front_door
from ..engine.outbox import dispatcher as outbox
from .common import Reply
from .test_outbox import OutboxCase

DELIVERIES = 20
TURN_STATEMENTS = 8  # what a turn costs whatever its size: due configs, health, claim, log rows, job states


@contextlib.contextmanager
def statements():
    """The SQL statements sent to PostgreSQL in the block, as text (a test cursor's own savepoints,
    test artefacts, are not sent through here)."""
    sent = []
    execute = sql_db.Cursor.execute

    def counted(cr, query, *args, **kwargs):
        sent.append(str(query))
        return execute(cr, query, *args, **kwargs)

    with patch.object(sql_db.Cursor, 'execute', counted):
        yield sent


class BatchCase(OutboxCase):

    def queue_partners(self, count, config=None, prefix='Batched'):
        jobs = self.Job.browse()
        for number in range(count):
            jobs |= self.queue(self.partner(f'{prefix} {number}'), config=config)
        self.env.flush_all()
        return jobs

    def claim_and_send(self, turn, finished=()):
        """One turn of the dispatcher concluding ``finished``, then the HTTP attempts of what it claimed."""
        ready = turn.run(list(finished), 0, True)
        return [(flight, outbox._transmit(flight)) for flight in ready]

    def second_turn_statements(self):
        """Three turns of DELIVERIES: the statements of the second, which concludes DELIVERIES
        deliveries (log rows, job states) and claims as many."""
        with self.shared_cursors(), self.registry.cursor() as cr:
            turn = outbox._Turn(cr, DELIVERIES)
            first = self.claim_and_send(turn)
            self.assertEqual(len(first), DELIVERIES)
            with statements() as sent:
                second = self.claim_and_send(turn, first)
            cr.execute("SELECT state, count(*) FROM bj_api_sync_job WHERE config_id = %s GROUP BY 1", [self.config.id])
            self.assertEqual(len(second), DELIVERIES, cr.fetchall())
            self.claim_and_send(turn, second)
        self.env.invalidate_all()
        return sent


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestDispatcherStatements(BatchCase):

    def test_a_turn_costs_a_few_statements_whatever_its_size(self):
        self.queue_partners(2 * DELIVERIES)
        sent = self.second_turn_statements()
        self.assertLessEqual(len(sent), TURN_STATEMENTS, '\n'.join(sent))
        self.assertFalse([statement for statement in sent if 'SAVEPOINT' in statement.upper()])
        self.assertEqual(len(self.api.received), 2 * DELIVERIES)
        jobs = self.Job.search([('config_id', '=', self.config.id)])
        self.assertEqual(set(jobs.mapped('state')), {'done'})
        self.assertEqual(len(jobs.log_ids), 2 * DELIVERIES)
        self.assertEqual(set(jobs.log_ids.mapped('status')), {'success'})

    def test_remote_ids_cost_at_most_two_statements_per_delivery(self):
        # The config reads each record's remote id before sending and keeps the one the API answers.
        self.config.write({'remote_id_path': 'id', 'skip_unchanged': True})
        self.api.default = Reply(201, {'id': 'R-1'})
        self.queue_partners(2 * DELIVERIES)
        sent = self.second_turn_statements()
        self.assertLessEqual(len(sent), 2 * DELIVERIES + TURN_STATEMENTS, '\n'.join(sent))
        self.assertFalse([statement for statement in sent if 'SAVEPOINT' in statement.upper()])
        links = self.env['bj.api.sync.link'].search([('config_id', '=', self.config.id)])
        self.assertEqual(set(links.mapped('remote_id')), {'R-1'})
        self.assertEqual(len(links), 2 * DELIVERIES)


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestBrokenDelivery(BatchCase):

    def test_a_delivery_that_breaks_fails_alone(self):
        jobs = self.queue_partners(6)
        broken = jobs.sorted('id')[2]
        answered = front_door.Outbound.answered

        def breaking(outbound, item, request, attempt, number, rule, job_id=None, refreshed=False):
            if job_id == broken.id:
                raise RuntimeError("a bug in processing this answer")
            return answered(outbound, item, request, attempt, number, rule, job_id, refreshed)

        with patch.object(front_door.Outbound, 'answered', breaking), \
                self.assertLogs('odoo.addons.bj_api_sync.engine.outbox.dispatcher', 'WARNING') as logged:
            self.assertEqual(self.dispatch(), 6)
        self.assertTrue(any('one delivery at a time' in line for line in logged.output), logged.output)
        self.assertEqual(len(self.api.received), 6)
        self.assertEqual(broken.state, 'failed')
        self.assertIn("RuntimeError: a bug in processing this answer", broken.last_error)
        self.assertEqual(broken.log_ids.mapped('status'), ['error'])
        others = jobs - broken
        self.assertEqual(set(others.mapped('state')), {'done'})
        self.assertEqual(len(others.log_ids), 5, "each other attempt is logged once")

    def test_a_delivery_that_aborts_the_transaction_fails_alone(self):
        jobs = self.queue_partners(4)
        broken = jobs.sorted('id')[1]
        answered = front_door.Outbound.answered

        def aborting(outbound, item, request, attempt, number, rule, job_id=None, refreshed=False):
            if job_id == broken.id:
                outbound.outcomes.env.cr.execute("SELECT 1 / 0")  # the transaction is in error from now on
            return answered(outbound, item, request, attempt, number, rule, job_id, refreshed)

        with patch.object(front_door.Outbound, 'answered', aborting), self.assertLogs(level='WARNING'):
            self.assertEqual(self.dispatch(), 4)
        self.assertEqual(broken.state, 'failed')
        self.assertIn('division by zero', broken.last_error)
        self.assertEqual(set((jobs - broken).mapped('state')), {'done'})
        self.assertEqual(len((jobs - broken).log_ids), 3)

    def test_a_binary_answer_is_logged(self):
        # PostgreSQL stores no NUL character in text: it is replaced, not a reason to lose the batch.
        self.api.default = Reply(500, b'\x00\x01 binary')
        jobs = self.queue_partners(3)
        self.assertEqual(self.dispatch(), 3)
        self.assertEqual(len(jobs.log_ids), 3)
        self.assertEqual(set(jobs.log_ids.mapped('response_body')), {'\ufffd\x01 binary'})


@tagged('post_install', '-at_install', 'bj_api_sync')
class TestDispatcherLooksAgain(BatchCase):

    def test_a_run_that_sent_looks_again_soon(self):
        # Odoo deletes the triggers written before a cron run when it ends: a delivery committed after
        # the run's last claim would wait for the next poll without this look.
        self.queue_partners(1)
        Trigger = self.env['ir.cron.trigger']
        before = Trigger.search([('cron_id', '=', self.dispatch_cron.id)])
        self.assertEqual(self.dispatch(), 1)
        soon = Trigger.search([('cron_id', '=', self.dispatch_cron.id)]) - before
        self.assertEqual(len(soon), 1)
        self.assertLessEqual(soon.call_at, self.env.cr.now() + datetime.timedelta(seconds=outbox.LOOK_AGAIN + 1))

    def test_an_idle_run_does_not(self):
        Trigger = self.env['ir.cron.trigger']
        before = Trigger.search([('cron_id', '=', self.dispatch_cron.id)])
        self.assertEqual(self.dispatch(), 0)
        self.assertFalse(Trigger.search([('cron_id', '=', self.dispatch_cron.id)]) - before)
