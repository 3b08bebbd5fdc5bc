from datetime import timedelta

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

from ..engine import after_commit, outbox
from ..engine.logbook import LogBook
from ..engine.outbound import Call, placeholders
from ..engine.payload import Mapping, MappingError
from ..engine.sandbox import CompiledScript, ScriptError, eval_domain

TIMEOUT_RANGES = {'connection_timeout': (1, 60), 'read_timeout': (1, 300)}
MAX_RETRIES_LIMIT = 10
STATS_DAYS = 7


class BjApiSyncConfig(models.Model):
    _name = 'bj.api.sync.config'
    _description = 'BJ API Configuration'
    _order = 'name, id'

    name = fields.Char(required=True)
    active = fields.Boolean(default=True, help="Archived configurations never send: calls only log a skipped row.")
    request_type = fields.Selection(
        [('in', 'In'), ('out', 'Out')], default='out', required=True,
        help="Out: Odoo sends records to the external API.")
    model_id = fields.Many2one(
        'ir.model', string='Model', required=True, ondelete='cascade',
        domain=[('transient', '=', False)], help="The Odoo model whose records are sent.")
    model_name = fields.Char(related='model_id.model', store=True, index=True, string='Model Name')
    domain = fields.Char(
        string='Filter Domain', default='[]',
        help="Only records matching this domain are sent; others are logged as skipped. "
             "May use datetime, timedelta, relativedelta, time, context_today(), uid and user.")
    url = fields.Char(
        string='Request URL',
        help="Full URL of the external endpoint. {key} placeholders are filled from the "
             "payload's top-level keys, e.g. https://api.example.com/partners/{external_id}")
    http_method_ids = fields.Many2many(
        'bj.http.method', string='HTTP Method', default=lambda self: self._default_http_method_ids(),
        help="Exactly one method for an outbound configuration.")
    connection_timeout = fields.Integer(default=5, help="Seconds to establish the connection (1-60).")
    read_timeout = fields.Integer(default=15, help="Seconds to wait for the response (1-300).")
    auth_type = fields.Selection(
        [('none', 'None'), ('basic', 'Basic Auth'), ('bearer', 'Bearer Token')],
        string='Authorization Type', default='none', required=True,
        help="Basic Auth sends 'Authorization: Basic base64(login:password)'; Bearer Token sends "
             "'Authorization: Bearer <token>'. Secrets are masked in logs.")
    auth_login = fields.Char(string='Login', help="Basic Auth user name.")
    auth_password = fields.Char(string='Password', groups='base.group_system',
                                help="Basic Auth password; readable by Settings administrators only.")
    bearer_token = fields.Char(groups='base.group_system',
                               help="Sent as 'Authorization: Bearer <token>'; readable by Settings administrators only.")
    line_ids = fields.One2many('bj.api.sync.config.line', 'config_id', string='Field Mapping', copy=True)
    header_ids = fields.One2many('bj.api.sync.header', 'config_id', string='Headers', copy=True)
    param_ids = fields.One2many('bj.api.sync.param', 'config_id', string='Parameters', copy=True)
    python_script = fields.Text(
        string='Payload Script',
        help="Optional Python run after the mapping on each request body. request_data holds the "
             "body built so far; set result (or write an expression) to replace it.")
    is_paginated = fields.Boolean(help="Send records in batches: one request per page, with a JSON array body.")
    page_size = fields.Integer(default=100, help="Records per request when paginated.")
    max_retries = fields.Integer(
        default=3, help="Retries after the first attempt for connection errors, timeouts and "
                        "HTTP 408, 425, 429, 500, 502, 503, 504.")
    delivery_mode = fields.Selection(
        [('immediate', 'Immediate'), ('queued', 'Queued')], default='immediate', required=True,
        help="Immediate: calls send at once and return the result. Queued: calls store a delivery "
             "in the same transaction; dispatchers send it after commit, retrying on the schedule below.")
    queue_paused = fields.Boolean(
        string='Pause Deliveries', help="Queued deliveries are held, not lost, until this is unchecked.")
    queue_retry_schedule = fields.Char(
        string='Retry Schedule', default=outbox.DEFAULT_RETRY_SCHEDULE, required=True,
        help="Waits between the attempts of a queued delivery, e.g. '1m, 5m, 30m, 2h, 6h, 12h' "
             "(s, m, h, d); each is jittered by ±20% and a server's Retry-After is honoured. "
             "After the last one the delivery is dead.")
    sign_requests = fields.Boolean(
        help="Add Standard Webhooks signature headers (webhook-id, webhook-timestamp, webhook-signature).")
    signing_secret = fields.Char(
        groups='base.group_system',
        help="HMAC-SHA256 key: 'whsec_' followed by base64, or any text used as is.")
    log_ids = fields.One2many('bj.api.log', 'config_id', string='Logs')
    log_count = fields.Integer(compute='_compute_log_count')
    job_ids = fields.One2many('bj.api.sync.job', 'config_id', string='Deliveries')
    job_count = fields.Integer(compute='_compute_job_count')
    action_ids = fields.One2many(
        'ir.actions.server', 'bj_api_config_id', string='Linked Actions',
        help="Server actions sending through this configuration, including those of its "
             "scheduled actions and automation rules.")
    cron_ids = fields.Many2many('ir.cron', compute='_compute_triggers', string='Scheduled Actions')
    automation_ids = fields.Many2many('base.automation', compute='_compute_triggers', string='Automation Rules')
    server_action_ids = fields.Many2many('ir.actions.server', compute='_compute_triggers', string='Server Actions')
    cron_count = fields.Integer(compute='_compute_triggers')
    automation_count = fields.Integer(compute='_compute_triggers')
    server_action_count = fields.Integer(compute='_compute_triggers')
    last_sync_date = fields.Datetime(
        string='Last Scheduled Sync', readonly=True, copy=False,
        help="Start of the last scheduled sync that fully succeeded. A scheduled action set to "
             "'changed records only' sends the records written since then.")
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

    def _default_http_method_ids(self):
        return self.env.ref('bj_api_sync.http_method_post', raise_if_not_found=False)

    def _compute_log_count(self):
        counts = dict(self.env['bj.api.log']._read_group(
            [('config_id', 'in', self.ids)], ['config_id'], ['__count']))
        for config in self:
            config.log_count = counts.get(config, 0)

    def _compute_job_count(self):
        counts = dict(self.env['bj.api.sync.job']._read_group(
            [('config_id', 'in', self.ids), ('state', '!=', 'done')], ['config_id'], ['__count']))
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

    def _compute_duration_stats(self):
        """Average and 95th percentile of the attempts' durations, one query for all configs."""
        stats = {}
        if self.ids:
            self.env['bj.api.log'].flush_model(['config_id', 'duration_ms', 'attempt'])
            self.env.cr.execute(SQL(
                """SELECT config_id, AVG(duration_ms),
                          PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY duration_ms)
                     FROM bj_api_log
                    WHERE config_id = ANY(%s) AND attempt > 0 AND duration_ms IS NOT NULL
                      AND create_date >= %s
                 GROUP BY config_id""",
                self.ids, fields.Datetime.now() - timedelta(days=STATS_DAYS)))
            stats = {config_id: (average, p95) for config_id, average, p95 in self.env.cr.fetchall()}
        for config in self:
            average, p95 = stats.get(config.id, (0, 0))
            config.duration_avg_7d = round(average or 0)
            config.duration_p95_7d = round(p95 or 0)

    @api.depends('action_ids')
    def _compute_triggers(self):
        for config in self:
            actions = config.action_ids
            crons = self.env['ir.cron'].with_context(active_test=False).search(
                [('ir_actions_server_id', 'in', actions.ids)])
            automations = actions.with_context(active_test=False).base_automation_id
            server_actions = actions.filtered(lambda action: action.usage == 'ir_actions_server')
            config.update({
                'cron_ids': crons, 'cron_count': len(crons),
                'automation_ids': automations, 'automation_count': len(automations),
                'server_action_ids': server_actions, 'server_action_count': len(server_actions),
            })

    def unlink(self):
        # Triggers would break without their configuration: they go with it.
        self.cron_ids.unlink()
        self.automation_ids.unlink()
        return super().unlink()

    def _label(self):
        return f'BJ API config "{self.name}"'

    @api.constrains('request_type', 'http_method_ids')
    def _check_http_methods(self):
        for config in self.filtered(lambda c: c.request_type == 'out'):
            if len(config.http_method_ids) != 1:
                raise ValidationError(_(
                    '%(config)s: an outbound configuration needs exactly one HTTP method (it has %(count)s).',
                    config=config._label(), count=len(config.http_method_ids)))
            if config.http_method_ids.name == 'GET' and config.is_paginated:
                raise ValidationError(_(
                    '%(config)s: GET sends no body, so it cannot send pages of records; '
                    'turn pagination off or use another method.', config=config._label()))

    @api.constrains('request_type', 'url', 'is_paginated')
    def _check_url(self):
        for config in self.filtered(lambda c: c.request_type == 'out'):
            try:
                parsed = parse_url((config.url or '').strip())
            except LocationParseError:
                parsed = None
            if not parsed or parsed.scheme not in ('http', 'https') or not parsed.host:
                raise ValidationError(_(
                    '%(config)s: the request URL "%(url)s" is not valid; only http:// and https:// URLs are accepted.',
                    config=config._label(), url=config.url or ''))
            if config.is_paginated and placeholders(config.url):
                raise ValidationError(_(
                    '%(config)s: URL placeholders are filled from one record, so they cannot be used with pagination.',
                    config=config._label()))
        self._check_http_methods()

    @api.constrains('connection_timeout', 'read_timeout', 'page_size', 'max_retries')
    def _check_numbers(self):
        for config in self:
            for name, (low, high) in TIMEOUT_RANGES.items():
                if not low <= config[name] <= high:
                    raise ValidationError(_(
                        '%(config)s: %(field)s must be between %(low)s and %(high)s seconds.',
                        config=config._label(), field=self._fields[name].string, low=low, high=high))
            if config.page_size <= 0:
                raise ValidationError(_('%(config)s: the page size must be greater than 0.', config=config._label()))
            if not 0 <= config.max_retries <= MAX_RETRIES_LIMIT:
                raise ValidationError(_(
                    '%(config)s: max retries must be between 0 and %(limit)s.',
                    config=config._label(), limit=MAX_RETRIES_LIMIT))

    @api.constrains('domain', 'model_id')
    def _check_domain(self):
        for config in self:
            domain = eval_domain(self.env, config.domain, config._label())
            try:
                self.env[config.model_name]._search(domain)
            except Exception as error:
                raise ValidationError(_(
                    '%(config)s: the filter domain is not valid for %(model)s: %(error)s',
                    config=config._label(), model=config.model_name, error=error)) from None

    @api.constrains('queue_retry_schedule')
    def _check_retry_schedule(self):
        for config in self:
            try:
                outbox.parse_schedule(config.queue_retry_schedule)
            except ValueError as error:
                raise ValidationError(_('%(config)s: %(error)s', config=config._label(), error=error)) from None

    @api.constrains('sign_requests', 'signing_secret')
    def _check_signing_secret(self):
        for config in self.filtered('sign_requests'):
            if not config.signing_secret:
                raise ValidationError(_('%(config)s: signing needs a secret.', config=config._label()))

    def write(self, values):
        result = super().write(values)
        if values.get('queue_paused') is False or values.get('active'):
            outbox.wake_dispatcher(self.env)
        return result

    @api.constrains('python_script')
    def _check_python_script(self):
        for config in self.filtered('python_script'):
            try:
                CompiledScript(config.python_script, f'{config._label()}, payload script')
            except ScriptError as error:
                raise ValidationError(str(error)) from None

    @api.constrains('model_id', 'line_ids')
    def _check_mapping(self):
        for config in self:
            try:
                Mapping(config)
            except MappingError as error:
                raise ValidationError(str(error)) from None

    @api.model
    def _make_outbound_http_request(self, record_ids=None, config_id_ref=None, timeout=None, queued=None):
        """Send ``record_ids`` through a config and return the result dict (SPEC §3).

        ``config_id_ref`` is an id, an XML id or a config record; it may be omitted
        when called on one config. ``queued`` overrides the config's delivery mode:
        queued calls store deliveries in this transaction and return their
        ``job_ids``. HTTP and network failures are logged and reported, never
        raised; configuration errors raise UserError.
        """
        config = self._outbound_config(config_id_ref)
        call = Call(config, config._records_of(record_ids), timeout=timeout)
        if config._is_queued(queued):
            return outbox.enqueue(call)
        return call.run()

    def _is_queued(self, queued=None):
        return self.delivery_mode == 'queued' if queued is None else bool(queued)

    def _outbound_config(self, ref):
        """The config ``ref`` designates, as superuser (it reads secrets), checked for sending."""
        Config = self.sudo().with_context(active_test=False)
        if ref in (None, False):
            if len(self) != 1:
                raise UserError(_("BJ API: say which configuration to use (config_id_ref), "
                                  "or call the method on one configuration."))
            config = Config.browse(self.id)
        elif isinstance(ref, models.BaseModel):
            if ref._name != self._name or len(ref) != 1:
                raise UserError(_("BJ API: %(ref)s is not one API configuration.", ref=ref))
            config = Config.browse(ref.id)
        elif isinstance(ref, str) and not ref.strip().isdigit():
            config = Config.env.ref(ref.strip(), raise_if_not_found=False)
            if config is None or config._name != self._name:
                raise UserError(_("BJ API: no API configuration has the XML id '%(ref)s'.", ref=ref))
        else:
            try:
                config = Config.browse(int(ref))
            except (TypeError, ValueError):
                raise UserError(_("BJ API: %(ref)r does not designate an API configuration.", ref=ref)) from None
        if not config.exists():
            raise UserError(_("BJ API: the API configuration %(ref)s does not exist.", ref=ref))
        if config.request_type != 'out':
            raise UserError(_("%(config)s is not an outbound (Out) configuration.", config=config._label()))
        if len(config.http_method_ids) != 1:
            raise UserError(_("%(config)s needs exactly one HTTP method.", config=config._label()))
        return config

    def _records_of(self, record_ids):
        """``record_ids`` (records, a record, an id or ids) as records of this config's model."""
        Model = self.env[self.model_name]
        if isinstance(record_ids, models.BaseModel):
            if record_ids._name != self.model_name:
                raise UserError(_(
                    "%(config)s sends %(model)s records, not %(given)s.",
                    config=self._label(), model=self.model_name, given=record_ids._name))
            return Model.browse(record_ids.ids)
        if record_ids in (None, False):
            return Model
        ids = [record_ids] if isinstance(record_ids, int) else list(record_ids)
        if not all(isinstance(record_id, int) for record_id in ids):
            raise UserError(_("%(config)s: record ids must be integers, got %(ids)r.", config=self._label(), ids=ids))
        return Model.browse(ids)

    def _send_from_server_action(self, records):
        """Code of server actions created from the config (Action menu of the model's views).

        Sends now and returns a notification telling how it went.
        """
        result = self._make_outbound_http_request(records)
        sent = [request for request in result['requests'] if request['success']]
        if result['errors']:
            message = _("%(sent)s request(s) sent, %(failed)s failed: %(error)s", sent=len(sent),
                        failed=len(result['errors']), error=result['errors'][0])
        else:
            message = _("%(sent)s request(s) sent, %(skipped)s record(s) skipped.",
                        sent=len(sent), skipped=len(result['skipped_ids']))
        return {
            'type': 'ir.actions.client',
            'tag': 'display_notification',
            'params': {
                'title': self.name,
                'message': message,
                'type': 'danger' if result['errors'] else 'success',
                'sticky': bool(result['errors']),
            },
        }

    def _send_from_automation(self, records, queued=None):
        """Code of automation rules created from the config: one delivery per record
        per transaction, sent (or queued) at commit (SPEC §7). Never breaks the user's operation."""
        try:
            config = self._outbound_config(None)
        except UserError as error:
            LogBook(self.env).write({
                'config_id': self.id, 'name': self.name, 'status': 'error', 'attempt': 0,
                'res_model': records._name, 'res_ids': ','.join(map(str, records.ids)),
                'error_message': str(error),
            })
            return
        after_commit.enqueue(config, config._records_of(records), queued=config._is_queued(queued))

    def _run_scheduled_sync(self, changed_only=False):
        """Code of scheduled actions created from the config: send every record of the domain
        (by pages when paginated); with ``changed_only``, only those written since the last
        fully successful run."""
        config = self._outbound_config(None)
        started = fields.Datetime.now()
        records = config.env[config.model_name]
        if config.active:
            domain = eval_domain(config.env, config.domain, config._label())
            if changed_only and config.last_sync_date:
                domain += [('write_date', '>=', config.last_sync_date)]
            # Odoo's usual semantics: archived records only if the domain asks for them.
            records = records.with_context(active_test=True).search(domain, order='id')
        result = Call(config, records, in_domain=True).run()
        if config.active and result['success']:
            config.last_sync_date = started
        return result

    def _open_list(self, model, records, name):
        return {
            'type': 'ir.actions.act_window',
            'name': name,
            'res_model': model,
            'view_mode': 'list,form',
            'domain': [('id', 'in', records.ids)],
            'context': {'active_test': False},
        }

    def action_open_jobs(self):
        action = self._open_list('bj.api.sync.job', self.job_ids, _("Deliveries"))
        action['domain'] = [('config_id', 'in', self.ids)]
        action['context'] = {'search_default_not_done': 1}
        return action

    def action_open_crons(self):
        return self._open_list('ir.cron', self.cron_ids, _("Scheduled Actions"))

    def action_open_automations(self):
        return self._open_list('base.automation', self.automation_ids, _("Automation Rules"))

    def action_open_server_actions(self):
        return self._open_list('ir.actions.server', self.server_action_ids, _("Server Actions"))

    def action_create_trigger(self):
        """Open the wizard that creates a scheduled action, automation rule or server action."""
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'name': _("Create Trigger"),
            'res_model': 'bj.api.sync.trigger.wizard',
            'view_mode': 'form',
            'target': 'new',
            'context': {'default_config_id': self.id, 'default_kind': self.env.context.get('trigger_kind', 'cron')},
        }

    def action_open_logs(self):
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id('bj_api_sync.action_bj_api_log')
        # A removable "this configuration" filter rather than a fixed domain.
        action['context'] = {'default_config_id': self.id, 'search_default_config_id': self.id}
        return action

    def action_preview_payload(self):
        """Open the preview of the request a sample record would send (nothing is sent)."""
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'name': _("Preview Payload"),
            'res_model': 'bj.api.sync.preview.wizard',
            'views': [(False, 'form')],
            'target': 'new',
            'context': {'default_config_id': self.id},
        }

    def action_send_test(self):
        """Send the first record of the domain now, notify the outcome and open its log."""
        self.ensure_one()
        return self.env['bj.api.sync.preview.wizard'].create({'config_id': self.id}).action_send_test()
