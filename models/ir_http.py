from werkzeug.routing import BaseConverter

from odoo import models


class RestOfPathConverter(BaseConverter):
    """The rest of a URL, whatever it holds ("/", a line break): an inbound endpoint's record identifier,
    so that any URL under an endpoint is answered by it (404 in JSON for an identifier no record has)."""
    regex = '(?s:.+)'
    part_isolating = False


class IrHttp(models.AbstractModel):
    _inherit = 'ir.http'

    @classmethod
    def _get_converters(cls):
        return {**super()._get_converters(), 'bj_api_sync_rest': RestOfPathConverter}
