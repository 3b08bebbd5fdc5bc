from odoo import api, fields, models
from odoo.exceptions import ValidationError


class BjApiSyncHeader(models.Model):
    _name = 'bj.api.sync.header'
    _inherit = 'bj.api.sync.key.value'
    _description = 'BJ API Custom Header'
    _row_label = 'header'

    key = fields.Char(help="Header name, e.g. X-API-Version.")
    value = fields.Char(help="Header value, in Latin-1 (HTTP headers cannot carry other characters). Values of "
                             "headers whose name looks secret (Authorization, *Token*, *Api-Key*...) are "
                             "masked in logs.")

    @api.constrains('key', 'value')
    def _check_latin1(self):
        for header in self:
            for text in (header.key, header.value):
                try:
                    (text or '').encode('latin-1')
                except UnicodeEncodeError:
                    raise ValidationError(self.env._(
                        'BJ API config "%(config)s": header "%(key)s" has characters HTTP headers cannot carry '
                        '(only Latin-1 is allowed): write "%(text)s" in ASCII or percent-encode it.',
                        config=header.config_id.name, key=(header.key or '').strip(), text=text)) from None
