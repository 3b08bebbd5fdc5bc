import datetime
import hashlib

from odoo import api, fields, models
from odoo.tools import SQL

from .. import compat

CLAIM_HOURS = 24


class BjApiSyncIdentifierClaim(models.Model):
    """An identifier an inbound request is giving to a record (a create, or a new identifier on an
    update), so that two requests giving the same one at the same moment cannot both succeed.

    Odoo's transactions are REPEATABLE READ: a request does not see a record another one is creating,
    nor one created after its snapshot, so checking that an identifier is free is not enough. Each
    request also writes the identifier's row here; PostgreSQL makes a second request writing the same
    row wait for the first, then, if the first committed, fail to serialize; Odoo runs it again on a
    fresh snapshot, where the identifier is taken (409). A row is one (model, field, value), kept by
    its hash; it says nothing once its transaction has ended and is removed after a day."""
    _name = 'bj.api.sync.identifier.claim'
    _description = 'BJ API Identifier Claim'
    _order = 'id desc'
    _rec_name = 'key'
    # A batch claims up to 1,000 identifiers: no user columns, whose foreign keys would be checked for each.
    _log_access = False

    key = fields.Char(required=True, readonly=True, help="SHA-256 of the model, the field and the identifier.")
    claimed_at = fields.Datetime(required=True, readonly=True)

    _key_unique = compat.unique('unique(key)', 'An identifier is claimed by one row.')

    @api.model
    def claim(self, model_name, field_name, values, taken=None):
        """Claim the identifiers ``values`` of ``model_name``'s field ``field_name`` until this transaction
        ends (raises a serialization failure, for Odoo to run the request again, when a concurrent
        transaction claimed one of them). With ``taken`` (a query of the records already holding one),
        whether it finds any, in the same statement."""
        keys = sorted({claim_key(model_name, field_name, value) for value in values})
        found = SQL("EXISTS(%s)", taken) if taken is not None else SQL("FALSE")
        # Written even when the row exists (a new version of it): that is what makes a concurrent
        # claim wait, then fail to serialize. Sorted, so that two batches cannot deadlock.
        self.env.cr.execute(SQL("""
            WITH claimed AS (
                INSERT INTO bj_api_sync_identifier_claim (key, claimed_at)
                SELECT key, now() AT TIME ZONE 'UTC' FROM unnest(%(keys)s::varchar[]) AS key
                ON CONFLICT (key) DO UPDATE SET claimed_at = EXCLUDED.claimed_at
            )
            SELECT %(found)s""", keys=keys, found=found), log_exceptions=False)
        return self.env.cr.fetchone()[0]

    @api.autovacuum
    def _gc_old_claims(self):
        self.search([('claimed_at', '<', fields.Datetime.now() - datetime.timedelta(hours=CLAIM_HOURS))]).unlink()


def claim_key(model_name, field_name, value):
    return hashlib.sha256(f'{model_name}\x1f{field_name}\x1f{value}'.encode()).hexdigest()
