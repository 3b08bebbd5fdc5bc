from odoo import api, fields, models
from odoo.exceptions import UserError

from .. import compat


class BjHttpMethod(models.Model):
    _name = 'bj.http.method'
    _description = 'BJ API HTTP Method'
    _order = 'sequence, id'

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)

    _name_unique = compat.unique('unique(name)', 'An HTTP method with this name already exists.')

    @api.ondelete(at_uninstall=False)
    def _unlink_except_used(self):
        """A configuration left without its method could not send: refuse, naming who uses it."""
        configs = self.env['bj.api.sync.config'].sudo().with_context(active_test=False).search(
            [('http_method_ids', 'in', self.ids)])
        for method in self:
            users = configs.filtered(lambda config, method=method: method in config.http_method_ids)
            if users:
                raise UserError(self.env._(
                    'The HTTP method %(method)s cannot be deleted: the API configuration(s) %(configs)s use it.',
                    method=method.name, configs=', '.join(f'"{name}"' for name in users.mapped('name'))))
