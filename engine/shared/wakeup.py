"""Waking a cron now, at the cost of one INSERT in the committing transaction.

``ir.cron._trigger()`` writes its trigger row through the ORM (three statements) and, after the
commit, opens a new connection to the ``postgres`` database to NOTIFY the cron workers (Odoo pools
no connection to that database): about 8 ms together, more than a small create costs. Here the row
is one INSERT, and the same NOTIFY goes out from a thread of this process over a connection it
keeps, so a committing request never waits for it; the notifications of commits in a row are sent
together. Should the NOTIFY fail, the trigger row is still there: the cron runs at the workers'
next poll.
"""
import logging
from typing import TYPE_CHECKING

import psycopg2
from psycopg2 import sql

from odoo import sql_db

from odoo.addons.base.models.ir_cron import ODOO_NOTIFY_FUNCTION

from .worker import ProcessWorker

if TYPE_CHECKING:
    from odoo.api import Environment

_logger = logging.getLogger(__name__)


def trigger_now(env: 'Environment', xmlid: str) -> None:
    """Have the cron ``xmlid`` run as soon as this transaction commits (as ``ir.cron._trigger()``)."""
    cron_id = env['ir.model.data']._xmlid_to_res_id(xmlid)
    env.cr.execute("""
        INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, create_date, write_uid, write_date)
        VALUES (%(cron)s, date_trunc('second', now() AT TIME ZONE 'UTC'), %(uid)s, now() AT TIME ZONE 'UTC',
                %(uid)s, now() AT TIME ZONE 'UTC')""", {'cron': cron_id, 'uid': env.uid})
    dbname = env.cr.dbname
    env.cr.postcommit.add(lambda: _NOTIFIER.ask(dbname))


class _Notifier(ProcessWorker):
    """Sends ``NOTIFY cron_trigger, '<database>'`` for the databases asked, over a connection it keeps."""

    name = 'bj_api_sync.wakeup'
    _query = sql.SQL("SELECT {}('cron_trigger', %s)").format(sql.Identifier(ODOO_NOTIFY_FUNCTION))

    def started(self):
        self._connection, self._failing = None, False

    def work(self, dbnames):
        try:
            if self._connection is None or self._connection.closed:
                self._connection = psycopg2.connect(**sql_db.connection_info_for('postgres')[1])
                self._connection.autocommit = True
            with self._connection.cursor() as cr:
                for dbname in dbnames:
                    cr.execute(self._query, [dbname])
            self._failing = False
        except psycopg2.Error as error:
            if not self._failing:  # once per failing streak: the trigger rows still get the crons run
                _logger.warning("BJ API: could not wake the cron workers now (%s); they run at their "
                                "next poll", error)
            self._failing = True
            self._connection = None


_NOTIFIER = _Notifier()
