from odoo import fields, models


class BjApiSyncHeader(models.Model):
    _name = 'bj.api.sync.header'
    _inherit = 'bj.api.sync.key.value'
    _description = 'BJ API Custom Header'
    _row_label = 'header'

    key = fields.Char(help="Header name, e.g. X-API-Version.")
    value = fields.Char(help="Header value. Values of headers whose name looks secret "
                             "(Authorization, *Token*, *Api-Key*...) are masked in logs.")
