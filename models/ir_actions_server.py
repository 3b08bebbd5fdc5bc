from odoo import fields, models

from ..engine.shared.sandbox import time_values

# In the context while an automation rule's actions run: their _make_outbound_http_request calls
# go through the change capture (engine/outbox/capture.py) instead of sending at once.
RULE_RUN = 'bj_api_sync_rule_run'


class IrActionsServer(models.Model):
    _inherit = 'ir.actions.server'

    bj_api_config_id = fields.Many2one(
        'bj.api.sync.config', string='BJ API Configuration', ondelete='cascade', index='btree_not_null',
        help="The API configuration this action (or its scheduled action / automation rule) sends through.")

    def run(self):
        if not self.env.context.get(RULE_RUN) and any(action.base_automation_id for action in self.sudo()):
            return super(IrActionsServer, self.with_context(**{RULE_RUN: True})).run()
        return super().run()

    def _get_eval_context(self, action=None):
        """Actions and crons on API configurations get the guide's names (docs/reference.md, "Triggers").

        The guide's cron code writes ``datetime.now() - timedelta(hours=1)`` and
        ``self.env...``: ``datetime`` works as module and class, ``timedelta`` and
        ``relativedelta`` are provided, and ``self`` is the configuration model.
        """
        eval_context = super()._get_eval_context(action=action)
        if action and action.model_id.sudo().model == 'bj.api.sync.config':
            eval_context.update(time_values())
            eval_context['self'] = eval_context['model']
        return eval_context
