from odoo import fields, models


class BjApiSyncConfig(models.Model):
    """No echoes (``engine/shared/echo.py``): what an inbound endpoint changes is not sent back to the
    remote system it came from, known by the endpoint's remote-id scope."""
    _inherit = 'bj.api.sync.config'

    inbound_echo = fields.Boolean(
        string='Send Changes Back', tracking=True,
        help="Inbound endpoints: changes made through this endpoint are normally not sent by the outbound "
             "configurations that share its Remote ID Scope, since they talk to the system the change came "
             "from (no echo, no ping-pong). Tick to send them back anyway. Configurations with another "
             "scope (other systems) always send them.")
