from odoo import api, fields, models

from .. import compat
from .bj_api_log import model_selection, record_names


class BjApiSyncLink(models.Model):
    """The id a remote system gave one Odoo record, in one scope (the configs of one remote resource).

    Written by the engine (``engine/outbound/remote.py``) after a successful response; read when a request's
    URL needs ``{remote_id}``, when a record without one falls back to another config, and to skip a
    payload already delivered unchanged.
    """
    _name = 'bj.api.sync.link'
    _description = 'BJ API Remote ID'
    _order = 'last_sync_date desc, id desc'
    _rec_name = 'remote_id'

    scope = fields.Char(string='Remote ID Scope', required=True, index=True, readonly=True,
                        help="Configurations with the same scope share remote ids.")
    res_model = fields.Selection(selection='_model_selection', string='Model', required=True, readonly=True)
    res_id = fields.Many2oneReference(string='Record ID', model_field='res_model', required=True, readonly=True)
    res_name = fields.Char(string='Record', compute='_compute_res_name',
                           help="The record's name, as its model shows it; #id when it is gone.")
    remote_id = fields.Char(string='Remote ID', index=True, readonly=True)
    config_id = fields.Many2one('bj.api.sync.config', string='Last Written By', ondelete='set null', readonly=True)
    payload_hash = fields.Char(readonly=True, help="SHA-256 of the last payload delivered in this scope.")
    last_sync_date = fields.Datetime(readonly=True)

    _record_unique = compat.unique('unique(scope, res_model, res_id)', 'A record has one remote id per scope.')

    @api.model
    def _model_selection(self):
        return model_selection(self.env)

    @api.depends('res_model', 'res_id')
    @api.depends_context('lang')
    def _compute_res_name(self):
        names = record_names(self.env, [(link.res_model, link.res_id) for link in self])
        for link in self:
            link.res_name = names.get((link.res_model, link.res_id)) or f'#{link.res_id}'

    def action_open_record(self):
        self.ensure_one()
        return {'type': 'ir.actions.act_window', 'res_model': self.res_model, 'res_id': self.res_id,
                'view_mode': 'form'}
