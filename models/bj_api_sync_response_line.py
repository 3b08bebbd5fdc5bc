from odoo import api, fields, models
from odoo.exceptions import ValidationError


class BjApiSyncResponseLine(models.Model):
    """One value read back from a successful response and written to the record that was sent."""
    _name = 'bj.api.sync.response.line'
    _inherit = ['bj.api.sync.config.part']
    _description = 'BJ API Response Line'
    _order = 'sequence, id'

    config_id = fields.Many2one('bj.api.sync.config', required=True, ondelete='cascade', index=True)
    sequence = fields.Integer(default=10)
    response_path = fields.Char(required=True, help="Dotted path into the JSON response, e.g. data.status.")
    model_id = fields.Many2one(related='config_id.model_id')
    field_id = fields.Many2one(
        'ir.model.fields', required=True, ondelete='cascade',
        domain="[('model_id', '=', model_id), ('store', '=', True), ('readonly', '=', False)]",
        help="The field of the record the value is written to.")

    @api.constrains('field_id', 'config_id')
    def _check_field(self):
        for line in self:
            if line.field_id.model != line.config_id.model_name:
                raise ValidationError(self.env._(
                    '%(config)s: response line "%(path)s": the field %(field)s is not a field of %(model)s.',
                    config=line.config_id._label(), path=line.response_path, field=line.field_id.name,
                    model=line.config_id.model_name))
