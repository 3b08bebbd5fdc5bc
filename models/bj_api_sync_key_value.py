from odoo import api, fields, models
from odoo.exceptions import ValidationError


class BjApiSyncKeyValue(models.AbstractModel):
    """A key/value row of a config (headers, query parameters): the parts a request is built from."""
    _name = 'bj.api.sync.key.value'
    _inherit = ['bj.api.sync.config.part']
    _description = 'BJ API Key/Value Row'
    _order = 'sequence, id'
    _row_label = 'row'

    config_id = fields.Many2one('bj.api.sync.config', required=True, ondelete='cascade', index=True)
    sequence = fields.Integer(default=10)
    key = fields.Char(required=True)
    value = fields.Char()

    def _texts_sent(self):
        """Texts that end up in the request line or headers, where a line break would inject content."""
        return [self.key, self.value]

    @api.constrains('key', 'value')
    def _check_no_line_breaks(self):
        for row in self:
            if any(char in (text or '') for text in row._texts_sent() for char in '\r\n'):
                raise ValidationError(self.env._(
                    'BJ API config "%(config)s": %(row)s "%(key)s" must not contain line breaks.',
                    config=row.config_id.name, row=row._row_label, key=(row.key or '').strip()))
