import time

from odoo import fields, models
from odoo.exceptions import UserError
from odoo.tools import split_every

from .. import compat
from ..engine.outbound import arguments
from ..engine.outbound.front_door import Outbound
from ..engine.outbox import budget as cron
from ..engine.outbox import capture
from ..engine.shared.logbook import LogBook, row
from .ir_actions_server import RULE_RUN

SYNC_BATCH = 20  # records sent between two looks at the clock (one request each when not paginated)


class BjApiSyncConfig(models.Model):
    """The methods server actions, scheduled actions and automation rules call. Each checks
    its arguments (``engine/outbound/arguments.py``) and hands over to the engine's front door."""
    _inherit = 'bj.api.sync.config'

    def _make_outbound_http_request(self, record_ids=None, config_id_ref=None, timeout=None, queued=None):
        """Send ``record_ids`` through a config and return the result dict (docs/reference.md).

        ``config_id_ref`` is an id, an XML id or a config record; it may be omitted
        when called on one config. ``queued`` overrides the config's delivery mode:
        queued calls store deliveries in this transaction and return their
        ``job_ids``. HTTP and network failures are logged and reported, never
        raised; configuration errors raise UserError.

        Called by the code of an automation rule, it sends nothing at once: the records
        go through the change capture (one delivery per record per transaction, planned
        at commit) and the result says ``deferred``.
        """
        config = arguments.outbound_config(self, config_id_ref)
        records = arguments.records_of(config, record_ids)
        if self.env.context.get(RULE_RUN):
            queued = config.delivery_mode == 'queued' if queued is None else bool(queued)
            capture.record(config, records, queued, timeout)
            return capture.deferred_result(records, queued)
        return Outbound(config, timeout=timeout).call(records, queued=queued)

    def _send_from_server_action(self, records):
        """Code of server actions created from the config (Action menu of the model's views).

        Sends now and returns a notification telling how it went.
        """
        result = self._make_outbound_http_request(records)
        sent = [request for request in result['requests'] if request['success']]
        if result['errors']:
            message = self.env._("%(sent)s request(s) sent, %(failed)s failed: %(error)s", sent=len(sent),
                                 failed=len(result['errors']), error=result['errors'][0])
        else:
            message = self.env._("%(sent)s request(s) sent, %(skipped)s record(s) skipped.",
                                 sent=len(sent), skipped=len(result['skipped_ids']))
        return {
            'type': 'ir.actions.client',
            'tag': 'display_notification',
            'params': {
                'title': self.name,
                'message': message,
                'type': 'danger' if result['errors'] else 'success',
                'sticky': bool(result['errors']),
            },
        }

    def _send_from_automation(self, records, queued=None):
        """Code of automation rules created from the config: one delivery per record per
        transaction, sent (or queued, as the config's Delivery Mode says unless ``queued``
        is given) at commit. Never breaks the user's operation."""
        try:
            config = arguments.outbound_config(self, None)
        except UserError as error:
            LogBook(self.env).write(row(self.name, 'error', records.ids, config_id=self.id,
                                        res_model=records._name, error_message=str(error)))
            return
        queued = config.delivery_mode == 'queued' if queued is None else bool(queued)
        capture.record(config, arguments.records_of(config, records), queued)

    def _run_scheduled_sync(self, changed_only=False):
        """Code of scheduled actions created from the config: send every record of the domain
        (by pages when paginated); with ``changed_only``, only those written since the last
        fully successful run.

        Run by its scheduled action, a sync stops starting requests after the cron time budget
        (``engine/outbox/budget.py``), remembers the last record sent and triggers its scheduled action
        again: the next run goes on from there. Called by hand, it sends everything at once."""
        config = arguments.outbound_config(self, None)
        outbound = Outbound(config)
        cron_id = self.env.context.get('cron_id')
        if not config.active:
            return outbound.call(config.env[config.model_name], queued=False, in_domain=True)
        resuming = bool(cron_id and config.sync_resume_id)
        started = config.sync_run_started if resuming else fields.Datetime.now()
        records = outbound.planner.search(changed_since=changed_only and config.last_sync_date,
                                          after_id=config.sync_resume_id if resuming else None)
        if not cron_id:
            result = outbound.call(records, queued=False, in_domain=True)
            if result['success']:
                config.last_sync_date = started
            return result
        deadline = time.monotonic() + cron.time_budget(config.connection_timeout + config.read_timeout)
        batch_size = config.page_size if config.is_paginated else SYNC_BATCH
        result, done = outbound.result(), []
        for batch in split_every(batch_size, records.ids):
            if done and time.monotonic() >= deadline:
                break
            outbound.deliver(outbound.plan_or_raise(records.browse(batch), in_domain=True), result=result)
            done.extend(batch)
        failed = (resuming and config.sync_run_failed) or not result['success']
        remaining = len(records) - len(done)
        if remaining:
            config.write({'sync_resume_id': done[-1], 'sync_run_started': started, 'sync_run_failed': failed})
            self.env['ir.cron'].sudo().browse(cron_id)._trigger()
        else:
            config.write({'sync_resume_id': 0, 'sync_run_started': False, 'sync_run_failed': False})
            if not failed:
                config.last_sync_date = started
        # remaining=0: Odoo would rerun the job up to ten times in one poll, all under one watchdog
        # limit; the trigger above starts the next run in a poll of its own instead.
        compat.notify_progress(self.env, len(done))
        return result
