from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .. import compat
from ..engine.outbound import jobs
from ..engine.outbox.health import CLOSED, OPEN, PAUSED


class BjApiSyncConfig(models.Model):
    """Flow control and endpoint health: the limits dispatchers respect, and the state they share
    (``bj.api.sync.health``, ``engine/outbox/health.py``)."""
    _inherit = 'bj.api.sync.config'

    rate_limit = fields.Float(
        string='Rate Limit (requests/s)', tracking=True,
        help="Queued deliveries: at most this many requests per second, across every dispatcher of every "
             "Odoo server sharing the database. 0: no limit.")
    max_concurrency = fields.Integer(
        string='Max Concurrent Requests', tracking=True,
        help="Queued deliveries: at most this many requests in flight at once, across every dispatcher. "
             "0: no limit (each dispatcher sends up to bj_api_sync.dispatch_concurrency at once).")
    failure_threshold = fields.Integer(
        default=10, tracking=True,
        help="Circuit breaker: after this many failed attempts in a row (no answer, a timeout, a server "
             "error), queued deliveries wait and one probe is sent after a cool-down of 30 s, doubling up "
             "to one hour; a success closes the breaker. 0: no breaker.")
    auto_pause_hours = fields.Integer(
        string='Pause After (hours)', default=24, tracking=True,
        help="Pause the deliveries of an endpoint that has failed continuously for this long, and alert the "
             "administrators with an activity. A 410 Gone answer pauses at once. 0: never pause.")
    health_id = fields.Many2one('bj.api.sync.health', compute='_compute_health')
    health_state = fields.Selection(
        [(CLOSED, 'Healthy'), (OPEN, 'Open (failing)'), (PAUSED, 'Paused')], string='Endpoint Health',
        compute='_compute_health',
        help="Healthy: deliveries flow. Open: the endpoint keeps failing; deliveries wait for a probe to "
             "succeed. Paused: deliveries are held until Pause Deliveries is unchecked.")
    consecutive_failures = fields.Integer(
        compute='_compute_health', help="Failed attempts in a row of the queued deliveries.")
    next_probe_at = fields.Datetime(
        string='Next Probe', compute='_compute_health',
        help="While the breaker is open: when one delivery is next sent to test the endpoint.")
    held_until = fields.Datetime(
        compute='_compute_health',
        help="The endpoint asked to wait (Retry-After on a 429 or 503): no delivery is sent before then.")

    @api.depends('queue_paused')
    def _compute_health(self):
        healths = self._health_rows()
        by_config = {health.config_id.id: health for health in healths}
        for config in self:
            health = by_config.get(config.id, self.env['bj.api.sync.health'])
            config.health_id = health
            config.health_state = PAUSED if config.queue_paused else (health.state or CLOSED)
            config.consecutive_failures = health.consecutive_failures
            config.next_probe_at = health.next_probe_at if health.state == OPEN else False
            config.held_until = health.held_until if health.held_until and health.held_until > fields.Datetime.now() \
                else False

    def _health_rows(self):
        """The health rows of these configs (a config has one once a dispatcher needed it)."""
        return self.env['bj.api.sync.health'].sudo().search([('config_id', 'in', self.ids)])

    @api.constrains('rate_limit', 'max_concurrency', 'failure_threshold', 'auto_pause_hours')
    def _check_flow_control(self):
        for config in self:
            for name in ('rate_limit', 'max_concurrency', 'failure_threshold', 'auto_pause_hours'):
                if config[name] < 0:
                    raise ValidationError(self.env._('%(config)s: %(field)s cannot be negative (0 means no limit).',
                                                     config=config._label(), field=self._fields[name].string))

    def write(self, values):
        result = super().write(values)
        if values.get('queue_paused') is False:
            # Resumed by hand: the endpoint gets a fresh start, not the failures that paused it.
            self._health_rows().reset()
        return result

    def action_reset_health(self):
        """Close the breaker and forget the failures: deliveries go out again now."""
        self._health_rows().reset()
        jobs.wake_dispatcher(self.env)
        return True

    def _pause_for_health(self, gone, error):
        """Pause this config's deliveries because its endpoint is gone (410) or has failed for
        ``auto_pause_hours``; tell it in the chatter and with an activity for each administrator."""
        if self.queue_paused:
            return
        editor = self.write_uid
        # As the config's last editor: the logs keep the language they are written in (its own).
        config = self.with_user(editor).sudo().with_context(lang=editor.lang or 'en_US')
        config.queue_paused = True
        if gone:
            summary = config.env._("BJ API: %(config)s paused, the endpoint is gone (410)", config=config.name)
            body = config.env._(
                "The endpoint answered 410 Gone: queued deliveries are paused, none is lost. Fix the URL, "
                "then uncheck Pause Deliveries. Last error: %(error)s", error=error or '')
        else:
            summary = config.env._("BJ API: %(config)s paused after failing for %(hours)s hours",
                                   config=config.name, hours=config.auto_pause_hours)
            body = config.env._(
                "Every attempt has failed for %(hours)s hours: queued deliveries are paused, none is lost. "
                "When the endpoint works again, uncheck Pause Deliveries. Last error: %(error)s",
                hours=config.auto_pause_hours, error=error or '')
        config.message_post(body=body, author_id=self.env.ref('base.partner_root').id)
        administrators = compat.group_users(self.env.ref('base.group_system').sudo()).filtered(
            lambda user: user.active and not user.share and not user._is_superuser())
        for administrator in administrators:
            config.activity_schedule('mail.mail_activity_data_warning', user_id=administrator.id,
                                     summary=summary, note=body)
