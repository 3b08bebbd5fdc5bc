import datetime

from odoo import api, fields, models

from .. import compat
from ..engine.inbound.front_door import IDEMPOTENCY_HOURS


class BjApiSyncIdempotency(models.Model):
    """The first answer to a POST an inbound endpoint received with an ``Idempotency-Key``: a repeat
    within 24 hours gets it again and creates nothing (``engine/inbound/front_door.py``)."""
    _name = 'bj.api.sync.idempotency'
    _description = 'BJ API Idempotency Key'
    _order = 'id desc'
    _rec_name = 'key'

    config_id = fields.Many2one('bj.api.sync.config', string='API Configuration', required=True,
                                ondelete='cascade', readonly=True)
    key = fields.Char(required=True, readonly=True)
    request_hash = fields.Char(required=True, readonly=True, help="SHA-256 of the first request's body.")
    status_code = fields.Integer(readonly=True)
    response_body = fields.Text(readonly=True)
    location = fields.Char(readonly=True)

    _key_unique = compat.unique('unique(config_id, key)', 'An Idempotency-Key is kept once per configuration.')

    def expired(self):
        return self.create_date < _kept_since()

    @api.model
    def claim(self, config_id, key, request_hash):
        """Keep ``key`` for this request: its row, or an empty recordset if another request has it."""
        self.env.cr.execute("""
            INSERT INTO bj_api_sync_idempotency (config_id, key, request_hash, create_uid, write_uid,
                                                 create_date, write_date)
            VALUES (%s, %s, %s, %s, %s, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
                ON CONFLICT (config_id, key) DO NOTHING
            RETURNING id""", [config_id, key, request_hash, self.env.uid, self.env.uid])
        return self.browse([row[0] for row in self.env.cr.fetchall()])

    @api.autovacuum
    def _gc_expired_keys(self):
        self.search([('create_date', '<', _kept_since())]).unlink()


def _kept_since():
    """Keys created before this have expired."""
    return fields.Datetime.now() - datetime.timedelta(hours=IDEMPOTENCY_HOURS)
