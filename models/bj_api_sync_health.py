from odoo import fields, models

from .. import compat
from ..engine.outbox.health import CLOSED, OPEN

# What the configuration shows of its health (computed from this model).
HEALTH_FIELDS = ['health_id', 'health_state', 'consecutive_failures', 'next_probe_at', 'held_until']


class BjApiSyncHealth(models.Model):
    """The endpoint health of one configuration, shared by every dispatcher (``engine/outbox/health.py``).

    Kept apart from the configuration so that dispatchers, which change it all the time (rate-limit
    slots, the breaker), never conflict with an administrator editing the configuration.
    """
    _name = 'bj.api.sync.health'
    _description = 'BJ API Endpoint Health'
    _rec_name = 'config_id'

    config_id = fields.Many2one('bj.api.sync.config', string='API Configuration', required=True,
                                ondelete='cascade', readonly=True)
    state = fields.Selection([(CLOSED, 'Closed'), (OPEN, 'Open')], default=CLOSED, required=True, readonly=True)
    consecutive_failures = fields.Integer(readonly=True)
    failing_since = fields.Datetime(readonly=True)
    cooldown = fields.Integer(string='Cool-down (s)', readonly=True)
    next_probe_at = fields.Datetime(readonly=True)
    probe_job_id = fields.Many2one('bj.api.sync.job', string='Probe', readonly=True, ondelete='set null',
                                   index='btree_not_null')
    held_until = fields.Datetime(readonly=True)
    next_slot_at = fields.Datetime(string='Next Rate-Limit Slot', readonly=True)

    _config_unique = compat.unique('unique(config_id)', 'A configuration has one health record.')

    def reset(self):
        """Back to a healthy endpoint: closed breaker, no failure counted, no hold."""
        self.write({'state': CLOSED, 'consecutive_failures': 0, 'failing_since': False, 'cooldown': 0,
                    'next_probe_at': False, 'probe_job_id': False, 'held_until': False})
        self.config_id.invalidate_recordset(HEALTH_FIELDS)
