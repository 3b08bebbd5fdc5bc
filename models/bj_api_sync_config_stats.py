from datetime import timedelta

from odoo import fields, models
from odoo.tools import SQL

STATS_DAYS = 7


class BjApiSyncConfig(models.Model):
    """What the configuration list and form show of a config's activity, computed from its logs."""
    _inherit = 'bj.api.sync.config'

    log_count = fields.Integer(compute='_compute_log_count')
    job_count = fields.Integer(compute='_compute_job_count')
    last_success_date = fields.Datetime(
        string='Last Success', compute='_compute_log_stats',
        help="When a request of this configuration last succeeded.")
    last_error_date = fields.Datetime(
        string='Last Error', compute='_compute_log_stats',
        help="When a request of this configuration last failed for good (after its retries).")
    request_count_7d = fields.Integer(
        string='Requests (7 days)', compute='_compute_log_stats',
        help="Requests finished in the last 7 days, successful or failed; "
             "retried attempts and skipped records are not counted.")
    success_rate_7d = fields.Float(
        string='Success Rate (7 days)', compute='_compute_log_stats',
        help="Share of the requests of the last 7 days that succeeded.")
    duration_avg_7d = fields.Integer(
        string='Average Duration (ms)', compute='_compute_duration_stats',
        help="Average duration of the HTTP attempts of the last 7 days, in milliseconds.")
    duration_p95_7d = fields.Integer(
        string='p95 Duration (ms)', compute='_compute_duration_stats',
        help="95% of the HTTP attempts of the last 7 days took at most this long, in milliseconds.")
    call_count_7d = fields.Integer(
        string='Calls (7 days)', compute='_compute_inbound_stats',
        help="Inbound endpoint: requests callers made in the last 7 days, answered or refused.")
    client_error_rate_7d = fields.Float(
        string='4xx Rate (7 days)', compute='_compute_inbound_stats',
        help="Inbound endpoint: share of the calls of the last 7 days refused with a 4xx status (bad "
             "credentials, invalid data, unknown record...): mistakes of the callers, not of the endpoint.")
    server_error_rate_7d = fields.Float(
        string='5xx Rate (7 days)', compute='_compute_inbound_stats',
        help="Inbound endpoint: share of the calls of the last 7 days that failed in Odoo (5xx status).")
    last_call_date = fields.Datetime(
        string='Last Call', compute='_compute_inbound_stats',
        help="Inbound endpoint: when a caller last called it.")


    def _compute_log_count(self):
        counts = dict(self.env['bj.api.log']._read_group(
            [('config_id', 'in', self.ids)], ['config_id'], ['__count']))
        for config in self:
            config.log_count = counts.get(config, 0)

    def _compute_job_count(self):
        counts = dict(self.env['bj.api.sync.job']._read_group(
            [('config_id', 'in', self.ids)], ['config_id'], ['__count']))
        for config in self:
            config.job_count = counts.get(config, 0)


    def _compute_log_stats(self):
        Log = self.env['bj.api.log']
        finished = [('config_id', 'in', self.ids), ('status', 'in', ('success', 'error'))]
        last = {(config, status): date for config, status, date in Log._read_group(
            finished, ['config_id', 'status'], ['create_date:max'])}
        since = fields.Datetime.now() - timedelta(days=STATS_DAYS)
        counts = {(config, status): count for config, status, count in Log._read_group(
            finished + [('create_date', '>=', since)], ['config_id', 'status'], ['__count'])}
        for config in self:
            successes = counts.get((config, 'success'), 0)
            total = successes + counts.get((config, 'error'), 0)
            config.update({
                'last_success_date': last.get((config, 'success'), False),
                'last_error_date': last.get((config, 'error'), False),
                'request_count_7d': total,
                'success_rate_7d': successes / total if total else 0.0,
            })

    def _log_stats(self, columns, where, defaults, flushed):
        """(config, row) pairs: the ``columns`` over each config's log rows that match ``where``, one query for
        all configs (through the config index); ``defaults`` for a config without such rows. ``flushed``
        are the log fields the query reads."""
        stats = {}
        if self.ids:
            self.env['bj.api.log'].flush_model(flushed)
            self.env.cr.execute(SQL(
                "SELECT config_id, %s FROM bj_api_log WHERE config_id = ANY(%s) AND %s GROUP BY config_id",
                columns, self.ids, where))
            stats = {config_id: row for config_id, *row in self.env.cr.fetchall()}
        return [(config, stats.get(config.id, defaults)) for config in self]

    def _compute_duration_stats(self):
        """Average and 95th percentile of the attempts' durations."""
        stats = self._log_stats(
            SQL("AVG(duration_ms), PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY duration_ms)"),
            SQL("attempt > 0 AND duration_ms IS NOT NULL AND create_date >= %s",
                fields.Datetime.now() - timedelta(days=STATS_DAYS)),
            (0, 0), ['config_id', 'duration_ms', 'attempt'])
        for config, (average, p95) in stats:
            config.duration_avg_7d = round(average or 0)
            config.duration_p95_7d = round(p95 or 0)

    def _compute_inbound_stats(self):
        """Calls, 4xx and 5xx shares of the last 7 days and the last call of inbound endpoints."""
        since = fields.Datetime.now() - timedelta(days=STATS_DAYS)
        stats = self._log_stats(
            SQL("""COUNT(*) FILTER (WHERE create_date >= %(since)s),
                   COUNT(*) FILTER (WHERE create_date >= %(since)s AND response_status_code BETWEEN 400 AND 499),
                   COUNT(*) FILTER (WHERE create_date >= %(since)s AND response_status_code >= 500),
                   MAX(create_date)""", since=since),
            SQL("direction = 'in'"),
            (0, 0, 0, False), ['config_id', 'direction', 'response_status_code'])
        for config, (calls, client_errors, server_errors, last_call) in stats:
            config.update({
                'call_count_7d': calls,
                'client_error_rate_7d': client_errors / calls if calls else 0.0,
                'server_error_rate_7d': server_errors / calls if calls else 0.0,
                'last_call_date': last_call,
            })
