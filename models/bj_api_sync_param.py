from odoo import api, fields, models


class BjApiSyncParam(models.Model):
    _name = 'bj.api.sync.param'
    _inherit = 'bj.api.sync.key.value'
    _description = 'BJ API Query Parameter'
    _row_label = 'parameter'

    operator = fields.Char(help="Optional operator placed between key and value as given "
                                "(e.g. >=). Empty means '='.")

    def _texts_sent(self):
        return super()._texts_sent() + [self.operator]

    @api.constrains('key', 'value', 'operator')
    def _check_no_line_breaks(self):
        return super()._check_no_line_breaks()
