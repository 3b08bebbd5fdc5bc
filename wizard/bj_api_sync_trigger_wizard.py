from odoo import api, fields, models
from odoo.fields import Command

from ..engine.shared.payload import fields_read

TRIGGER_KINDS = [
    ('cron', 'Scheduled Action'),
    ('automation', 'Automation Rule'),
    ('action', 'Server Action (Action menu)'),
]
AUTOMATION_TRIGGERS = [
    ('on_create_or_write', 'On save (creation and update)'),
    ('on_create', 'On creation'),
    ('on_write', 'On update'),
    ('on_unlink', 'On deletion'),
]


class BjApiSyncTriggerWizard(models.TransientModel):
    """Creates a scheduled action, automation rule or server action wired to one configuration."""
    _name = 'bj.api.sync.trigger.wizard'
    _description = 'BJ API: Create Trigger'

    config_id = fields.Many2one('bj.api.sync.config', string='API Configuration', required=True, ondelete='cascade')
    model_id = fields.Many2one(related='config_id.model_id')
    delivery_mode = fields.Selection(related='config_id.delivery_mode')
    kind = fields.Selection(TRIGGER_KINDS, required=True, default='cron')
    name = fields.Char(compute='_compute_name', store=True, readonly=False, required=True, precompute=True)
    interval_number = fields.Integer(string='Every', default=1)
    interval_type = fields.Selection([
        ('minutes', 'Minutes'), ('hours', 'Hours'), ('days', 'Days'), ('weeks', 'Weeks'), ('months', 'Months'),
    ], string='Interval Unit', default='hours')
    changed_only = fields.Boolean(
        string='Changed Records Only', default=True,
        help="Send only the records written since the last fully successful run, instead of every record.")
    trigger = fields.Selection(AUTOMATION_TRIGGERS, default='on_create_or_write')
    trigger_field_ids = fields.Many2many(
        'ir.model.fields', string='Watched Fields', domain="[('model_id', '=', model_id)]",
        compute='_compute_trigger_field_ids', store=True, readonly=False, precompute=True,
        help="On update: send only when one of these fields changes; by default, the fields the mapping "
             "reads (a write the mapping does not see sends nothing). Empty: any change.")
    filter_domain = fields.Char(
        string='Apply On', help="The rule's own filter; the configuration's domain applies as well.")

    @api.depends('kind', 'config_id')
    def _compute_name(self):
        kinds = dict(self._fields['kind']._description_selection(self.env))
        for wizard in self:
            wizard.name = f"BJ API: {wizard.config_id.name} ({kinds.get(wizard.kind, '')})"

    @api.depends('config_id', 'trigger')
    def _compute_trigger_field_ids(self):
        for wizard in self:
            names = fields_read(wizard.config_id.sudo()) \
                if wizard.config_id and wizard.trigger in ('on_create_or_write', 'on_write') else None
            wizard.trigger_field_ids = self.env['ir.model.fields'].search([
                ('model', '=', wizard.config_id.model_name), ('name', 'in', sorted(names))]) if names else False

    def action_create(self):
        self.ensure_one()
        created = getattr(self, f'_create_{self.kind}')()
        return {
            'type': 'ir.actions.act_window',
            'res_model': created._name,
            'res_id': created.id,
            'view_mode': 'form',
            'target': 'current',
        }

    def _code_action(self, model, code, usage):
        return {
            'name': self.name,
            'model_id': model.id,
            'state': 'code',
            'code': code,
            'usage': usage,
            'bj_api_config_id': self.config_id.id,
        }

    def _create_cron(self):
        config_model = self.env['ir.model']._get('bj.api.sync.config')
        code = (f"env['bj.api.sync.config'].browse({self.config_id.id})"
                f"._run_scheduled_sync(changed_only={self.changed_only})")
        return self.env['ir.cron'].create({
            **self._code_action(config_model, code, 'ir_cron'),
            'interval_number': self.interval_number,
            'interval_type': self.interval_type,
        })

    def _create_automation(self):
        # The rule follows the configuration's Delivery Mode, whatever it is when the rule runs.
        code = f"env['bj.api.sync.config'].browse({self.config_id.id})._send_from_automation(records)"
        return self.env['base.automation'].create({
            'name': self.name,
            'model_id': self.model_id.id,
            'trigger': self.trigger,
            'trigger_field_ids': [Command.set(self.trigger_field_ids.ids if self.trigger != 'on_unlink' else [])],
            'filter_domain': self.filter_domain or False,
            'action_server_ids': [Command.create(self._code_action(self.model_id, code, 'base_automation'))],
        })

    def _create_action(self):
        code = f"action = env['bj.api.sync.config'].browse({self.config_id.id})._send_from_server_action(records)"
        return self.env['ir.actions.server'].create({
            **self._code_action(self.model_id, code, 'ir_actions_server'),
            'binding_model_id': self.model_id.id,
            'binding_view_types': 'list,form',
        })
