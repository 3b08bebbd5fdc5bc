import uuid

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools.sql import create_index

from .. import compat
from ..engine.outbound import jobs as job_store
from ..engine.outbound.outcome import DEAD, DONE, FAILED, PENDING, RUNNING
from ..engine.outbox import dispatcher
from .bj_api_log import model_selection, records_titles


class BjApiSyncJob(models.Model):
    """One queued delivery (the outbox): a request body snapshot waiting to be sent.

    Jobs are written in the same transaction as the change they carry, so a change
    that commits is delivered at least once and a change that rolls back never is.
    The dispatcher (``engine/outbox/dispatcher.py``) sends them after commit. No secret is
    stored here: authentication headers are added when the job is sent.
    """
    _name = 'bj.api.sync.job'
    _description = 'BJ API Delivery'
    _order = 'id desc'

    name = fields.Char(required=True)
    config_id = fields.Many2one(
        'bj.api.sync.config', string='API Configuration', required=True, ondelete='cascade', index=True)
    state = fields.Selection([
        (PENDING, 'Pending'),
        (RUNNING, 'Running'),
        (DONE, 'Done'),
        (FAILED, 'Failed'),
        (DEAD, 'Dead'),
    ], default=PENDING, required=True, index=True, copy=False,
        help="Pending: waiting for its next attempt. Failed: refused by the server (not retried). "
             "Dead: every attempt of the retry schedule failed.")
    http_method = fields.Char(string='Method', required=True)
    body = fields.Text(help="The payload as built when the change was made (JSON). The request is finished "
                            "when it is sent: URL, headers, authentication and signatures come from the "
                            "configuration as it is then.")
    url_values = fields.Text(string='URL Values', help="Values of the URL's {placeholders}, taken from the payload (JSON).")
    res_model = fields.Selection(selection='_model_selection', string='Model')
    res_ids = fields.Char(string='Record IDs')
    ordering_key = fields.Char(
        index=True, help="Jobs with the same key (one configuration, one record) are delivered in order.")
    idempotency_key = fields.Char(
        required=True, readonly=True, copy=False, default=lambda self: str(uuid.uuid4()),
        help="Sent as the Idempotency-Key header on every attempt, so the receiver can drop duplicates.")
    attempts = fields.Integer(default=0, readonly=True, copy=False, help="Attempts made so far.")
    max_attempts = fields.Integer(
        string='Attempts Allowed', readonly=True,
        help="The first attempt plus one retry per wait of the configuration's retry schedule.")
    next_attempt_at = fields.Datetime(
        string='Next Attempt', default=lambda self: self.env.cr.now(), index=True, readonly=True, copy=False)
    lease_until = fields.Datetime(
        readonly=True, copy=False, help="While running: when another dispatcher may take the job over "
                            "(its worker is presumed dead).")
    last_status_code = fields.Integer(readonly=True, copy=False)
    last_error = fields.Text(readonly=True, copy=False)
    done_at = fields.Datetime(readonly=True, copy=False)
    # Indexed: deleting many jobs (the daily clean-up) checks this reference for each one.
    replay_of_id = fields.Many2one('bj.api.sync.job', readonly=True, ondelete='set null',
                                   index='btree_not_null')
    log_ids = fields.One2many('bj.api.log', 'job_id', string='Attempt Logs')

    _idempotency_key_unique = compat.unique('unique(idempotency_key)', 'The idempotency key of a delivery must be unique.')

    def init(self):
        # The dispatcher's claim (engine/outbox/dispatcher.py) walks the due jobs in this order and stops at
        # the first it may take; without it, every claim sorted all waiting jobs (7 ms at 5,000).
        create_index(self.env.cr, 'bj_api_sync_job_due_index', self._table, ['next_attempt_at', 'id'],
                     where="state IN ('pending', 'running')")
        # Per-record order: "is an earlier job of this record unfinished?" is one index probe.
        # Matching the claim's own condition, it stays the planner's choice even before the
        # statistics know about a large batch of jobs just queued (else a claim can turn quadratic).
        create_index(self.env.cr, 'bj_api_sync_job_order_index', self._table, ['ordering_key', 'id'],
                     where="state IN ('pending', 'running')")
        # Leases that expired: the oldest first, without walking the jobs sent lately (whose leases are later).
        create_index(self.env.cr, 'bj_api_sync_job_lease_index', self._table, ['lease_until'],
                     where="state = 'running'")
        # Which configs have due jobs: the first pending job of each, found without a scan.
        create_index(self.env.cr, 'bj_api_sync_job_config_due_index', self._table,
                     ['config_id', 'next_attempt_at', 'id'], where="state = 'pending'")

    @api.model
    def _model_selection(self):
        return model_selection(self.env)

    @api.depends('name', 'http_method', 'res_model', 'res_ids')
    @api.depends_context('lang')
    def _compute_display_name(self):
        # Titled by their records as people know them, in the reader's language (bj_api_log.py).
        titles = records_titles(self.env, [(job.res_model, job.res_ids) for job in self if job.res_model and job.res_ids])
        for job in self:
            title = titles.get((job.res_model, job.res_ids))
            job.display_name = f"{job.http_method} {title}" if title else job.name

    def action_retry_now(self):
        """Failed or dead deliveries get a fresh series of attempts, starting now."""
        if not job_store.retry_now(self, self.env):
            raise UserError(self.env._("Only failed or dead deliveries can be retried."))
        return True

    def action_replay(self):
        """Send a delivered job again, as a new delivery with its own idempotency key."""
        if not self.filtered(lambda job: job.state == DONE):
            raise UserError(self.env._("Only delivered (done) jobs can be replayed."))
        replays = job_store.replay(self, self.env)
        if len(replays) == 1:
            return {'type': 'ir.actions.act_window', 'res_model': self._name, 'res_id': replays.id, 'view_mode': 'form'}
        return True

    @api.model
    def _cron_dispatch(self):
        """Scheduled action: send due jobs, several at a time, for a bounded time (well under Odoo's cron
        time limit); the rest is left to the next run, which the dispatcher triggers."""
        sent = dispatcher.dispatch(self.env.registry, dispatcher.run_budget(self.env.registry))
        compat.notify_progress(self.env, sent)
        return sent

    @api.autovacuum
    def _gc_done_deliveries_and_logs(self):
        """Odoo's daily clean-up: remove done deliveries and logs past the retention period."""
        return job_store.cleanup(self.env)

    def record_ids(self):
        """The ids of the records this delivery carries."""
        return [int(record_id) for record_id in (self.res_ids or '').split(',') if record_id]
