import datetime

from odoo import api, fields, models
from odoo.tools import SQL

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
    res_id = fields.Integer(string='Record ID', readonly=True, help="The record the first request created.")

    _key_unique = compat.unique('unique(config_id, key)', 'An Idempotency-Key is kept once per configuration.')

    @api.model
    def wait_for(self, config_id, key, table):
        """The key's row as kept, once every other request with the key has ended: requests with one key
        are served one after the other (a lock held until the transaction ends), and the row is read in a
        transaction of its own, newer than this one's snapshot. A dict (id, request_hash, status_code,
        response_body, location, expired, and whether the record it created is still in ``table``), or None."""
        self.env.cr.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [config_id, key])
        with self.env.registry.cursor() as cr:
            compat.read_committed(cr)
            cr.execute(SQL("""
                SELECT kept.id, kept.request_hash, kept.status_code, kept.response_body, kept.location,
                       kept.create_date < %s AS expired,
                       EXISTS(SELECT 1 FROM %s AS record WHERE record.id = kept.res_id) AS record_exists
                  FROM bj_api_sync_idempotency AS kept
                 WHERE kept.config_id = %s AND kept.key = %s""", _kept_since(), SQL.identifier(table), config_id, key))
            return cr.dictfetchone()

    @api.model
    def claim(self, config_id, key, request_hash):
        """Keep ``key`` for this request (which holds its lock, see ``wait_for``): its new row."""
        self.env.cr.execute("""
            INSERT INTO bj_api_sync_idempotency (config_id, key, request_hash, create_uid, write_uid,
                                                 create_date, write_date)
            VALUES (%s, %s, %s, %s, %s, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
            RETURNING id""", [config_id, key, request_hash, self.env.uid, self.env.uid])
        return self.browse(self.env.cr.fetchone()[0])

    @api.autovacuum
    def _gc_expired_keys(self):
        self.search([('create_date', '<', _kept_since())]).unlink()


def _kept_since():
    """Keys created before this have expired."""
    return fields.Datetime.now() - datetime.timedelta(hours=IDEMPOTENCY_HOURS)
