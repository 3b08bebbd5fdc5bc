"""Immediate deliveries of a change, sent right after its commit without holding up the user.

The change capture writes them as jobs in the committing transaction, like queued ones; after the
commit, a thread of the committing process runs a dispatcher at once. So the request that saved the
record returns without waiting for the remote API (a slow or dead endpoint never blocks a save), the
deliveries keep the outbox's flow control, order and retries, and a process that dies before sending
loses nothing: the jobs stay pending for the dispatcher cron (its interval is the safety net).

In test mode the dispatcher runs in the committing thread, inside the test's transaction.
"""
import logging
import threading
from typing import TYPE_CHECKING

from odoo import modules

from ..shared.worker import ProcessWorker
from . import dispatcher

if TYPE_CHECKING:
    from odoo.modules.registry import Registry

_logger = logging.getLogger(__name__)

# Seconds one run may claim jobs: a process serving users dispatches briefly, the cron takes what is left.
TIME_BUDGET = 10.0
# Seconds a run waits for the commits that follow the one that woke it: commits in a row share a run
# (one claim, one round of outcomes) instead of paying a dispatcher run each.
GATHER_SECONDS = 0.05


def dispatch_soon(registry: 'Registry') -> None:
    """Dispatch the database's due jobs now, off the calling thread (postcommit)."""
    if modules.module.current_test:
        dispatcher.dispatch(registry, time_budget=TIME_BUDGET)
        return
    _SENDER.ask(registry.db_name)


class _Sender(ProcessWorker):
    """Runs the dispatcher for the databases whose commits asked for it."""

    name = 'bj_api_sync.eager'
    gather_seconds = GATHER_SECONDS

    def work(self, dbnames):
        for dbname in dbnames:
            threading.current_thread().dbname = dbname  # Odoo's log lines name the database
            try:
                dispatcher.dispatch(modules.registry.Registry(dbname), time_budget=TIME_BUDGET)
            except Exception:
                # The jobs stay pending: the dispatcher cron sends them.
                _logger.exception("BJ API: dispatching right after a commit failed")


_SENDER = _Sender()
