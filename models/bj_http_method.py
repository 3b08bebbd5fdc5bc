from odoo import fields, models


class BjHttpMethod(models.Model):
    _name = 'bj.http.method'
    _description = 'BJ API HTTP Method'
    _order = 'sequence, id'

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)

    _sql_constraints = [
        ('name_unique', 'unique(name)', 'An HTTP method with this name already exists.'),
    ]
