from odoo import _, fields, models
from odoo.exceptions import UserError

from ..engine import after_commit, arguments
from ..engine.logbook import LogBook
from ..engine.outbound import Outbound


class BjApiSyncConfig(models.Model):
    """The methods server actions, scheduled actions and automation rules call. Each checks
    its arguments (``engine/arguments.py``) and hands over to the engine's front door."""
    _inherit = 'bj.api.sync.config'

    def _make_outbound_http_request(self, record_ids=None, config_id_ref=None, timeout=None, queued=None):
        """Send ``record_ids`` through a config and return the result dict (docs/reference.md).

        ``config_id_ref`` is an id, an XML id or a config record; it may be omitted
        when called on one config. ``queued`` overrides the config's delivery mode:
        queued calls store deliveries in this transaction and return their
        ``job_ids``. HTTP and network failures are logged and reported, never
        raised; configuration errors raise UserError.
        """
        config = arguments.outbound_config(self, config_id_ref)
        records = arguments.records_of(config, record_ids)
        return Outbound(config, timeout=timeout).call(records, queued=queued)

    def _send_from_server_action(self, records):
        """Code of server actions created from the config (Action menu of the model's views).

        Sends now and returns a notification telling how it went.
        """
        result = self._make_outbound_http_request(records)
        sent = [request for request in result['requests'] if request['success']]
        if result['errors']:
            message = _("%(sent)s request(s) sent, %(failed)s failed: %(error)s", sent=len(sent),
                        failed=len(result['errors']), error=result['errors'][0])
        else:
            message = _("%(sent)s request(s) sent, %(skipped)s record(s) skipped.",
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
            LogBook(self.env).write({
                'config_id': self.id, 'name': self.name, 'status': 'error', 'attempt': 0,
                'res_model': records._name, 'res_ids': ','.join(map(str, records.ids)),
                'error_message': str(error),
            })
            return
        queued = config.delivery_mode == 'queued' if queued is None else bool(queued)
        after_commit.enqueue(config, arguments.records_of(config, records), queued=queued)

    def _run_scheduled_sync(self, changed_only=False):
        """Code of scheduled actions created from the config: send every record of the domain
        (by pages when paginated); with ``changed_only``, only those written since the last
        fully successful run."""
        config = arguments.outbound_config(self, None)
        started = fields.Datetime.now()
        outbound = Outbound(config)
        records = config.env[config.model_name]
        if config.active:
            records = outbound.planner.search(changed_since=changed_only and config.last_sync_date)
        result = outbound.call(records, queued=False, in_domain=True)
        if config.active and result['success']:
            config.last_sync_date = started
        return result
