from odoo import api, fields, models


class BjApiSyncConfig(models.Model):
    """The scheduled actions, automation rules and server actions wired to a config."""
    _inherit = 'bj.api.sync.config'

    action_ids = fields.One2many(
        'ir.actions.server', 'bj_api_config_id', string='Linked Actions',
        help="Server actions sending through this configuration, including those of its "
             "scheduled actions and automation rules.")
    cron_ids = fields.Many2many('ir.cron', compute='_compute_triggers', string='Scheduled Actions')
    automation_ids = fields.Many2many('base.automation', compute='_compute_triggers', string='Automation Rules')
    server_action_ids = fields.Many2many('ir.actions.server', compute='_compute_triggers', string='Server Actions')
    cron_count = fields.Integer(compute='_compute_triggers')
    automation_count = fields.Integer(compute='_compute_triggers')
    server_action_count = fields.Integer(compute='_compute_triggers')

    @api.depends('action_ids')
    def _compute_triggers(self):
        for config in self:
            actions = config.action_ids
            crons = self.env['ir.cron'].with_context(active_test=False).search(
                [('ir_actions_server_id', 'in', actions.ids)])
            automations = actions.with_context(active_test=False).base_automation_id
            server_actions = actions.filtered(lambda action: action.usage == 'ir_actions_server')
            config.update({
                'cron_ids': crons, 'cron_count': len(crons),
                'automation_ids': automations, 'automation_count': len(automations),
                'server_action_ids': server_actions, 'server_action_count': len(server_actions),
            })

    def unlink(self):
        # Triggers would break without their configuration: they go with it.
        self.cron_ids.unlink()
        self.automation_ids.unlink()
        return super().unlink()

    def _open_list(self, model, records, name):
        return {
            'type': 'ir.actions.act_window',
            'name': name,
            'res_model': model,
            'view_mode': 'list,form',
            'domain': [('id', 'in', records.ids)],
            'context': {'active_test': False},
        }

    def action_open_crons(self):
        return self._open_list('ir.cron', self.cron_ids, self.env._("Scheduled Actions"))

    def action_open_automations(self):
        return self._open_list('base.automation', self.automation_ids, self.env._("Automation Rules"))

    def action_open_server_actions(self):
        return self._open_list('ir.actions.server', self.server_action_ids, self.env._("Server Actions"))

    def action_create_trigger(self):
        """Open the wizard that creates a scheduled action, automation rule or server action."""
        self.ensure_one()
        kind = self.env.context.get('trigger_kind', 'cron')
        titles = {'cron': self.env._("Create Scheduled Action"), 'automation': self.env._("Create Automation Rule"),
                  'action': self.env._("Create Server Action")}
        return {
            'type': 'ir.actions.act_window',
            'name': titles.get(kind, self.env._("Create Trigger")),
            'res_model': 'bj.api.sync.trigger.wizard',
            'view_mode': 'form',
            'target': 'new',
            'context': {'default_config_id': self.id, 'default_kind': kind},
        }

