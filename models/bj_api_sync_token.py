from odoo import fields, models

from .. import compat
from .secret_field import SecretText


class BjApiSyncToken(models.Model):
    """An OAuth2 access token cached for every request, transaction, worker and server.

    One row per client (token URL, client id, scope, audience), so configurations of one
    client share it. Written by ``engine/oauth2.py`` only, one worker at a time (row lock).
    """
    _name = 'bj.api.sync.token'
    _description = 'BJ API OAuth2 Token'
    _order = 'id desc'

    key = fields.Char(required=True, readonly=True, index=True,
                      help="Identifies the client: a hash of token URL, client id, scope and audience.")
    token_url = fields.Char(string='Token URL', readonly=True)
    access_token = SecretText(groups='base.group_system', readonly=True)
    expires_at = fields.Datetime(string='Expires', readonly=True)

    _key_unique = compat.unique('unique(key)', 'One cached token per OAuth2 client.')
