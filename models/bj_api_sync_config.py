from datetime import timedelta

from babel.dates import format_timedelta
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import ormcache
from odoo.tools.misc import babel_locale_parse

from ..engine.outbound import jobs
from ..engine.outbound.front_door import Outbound
from ..engine.outbound.profile import DEFAULT_RETRY_SCHEDULE, Profile, parse_schedule
from ..engine.outbound.request import placeholders
from ..engine.shared import auth, tls
from ..engine.shared.labels import config_label
from ..engine.shared.payload import Mapping, MappingError
from ..engine.shared.sandbox import CompiledScript, ScriptError, eval_domain
from .secret_field import SECRET_TYPES, Secret, SecretText, raise_secret

# The three kinds of configuration (request_type).
OUTBOUND, INBOUND, SUB_MAPPING = 'out', 'in', 'mapping'
# Written by the runs of scheduled syncs, read by nothing cached: saving them keeps the caches.
RUN_STATE_FIELDS = frozenset({'sync_resume_id', 'sync_run_started', 'sync_run_failed', 'last_sync_date'})
TIMEOUT_RANGES = {'connection_timeout': (1, 60), 'read_timeout': (1, 300)}
MAX_RETRIES_LIMIT = 10


class BjApiSyncConfig(models.Model):
    """One integration: what is sent, where and how. Its statistics, triggers and entry
    points are in the bj_api_sync_config_*.py files beside this one; sending is the engine's."""
    _name = 'bj.api.sync.config'
    _inherit = ['mail.thread', 'mail.activity.mixin']
    _description = 'BJ API Configuration'
    _order = 'name, id'

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(
        default=True, tracking=True, help="Archived configurations never send: calls only log a skipped row.")
    request_type = fields.Selection(
        [(OUTBOUND, 'Outbound configuration'), (INBOUND, 'Inbound endpoint'), (SUB_MAPPING, 'Sub-mapping')],
        string='Type', default=OUTBOUND, required=True,
        help="Outbound configuration: Odoo sends records to an external API. Inbound endpoint: an endpoint of "
             "Odoo that external systems call, /bj_api_sync/v1/<endpoint>, to read and write these records "
             "through the mapping. Sub-mapping: mapping lines only, which relational lines of other "
             "configurations apply to their related records; it needs no URL, method or authentication.",
        tracking=True)
    model_id = fields.Many2one(
        'ir.model', required=True, ondelete='cascade',
        domain=[('transient', '=', False)], help="The Odoo model whose records are sent.", tracking=True)
    model_name = fields.Char(related='model_id.model', store=True, index=True, string='Model Name')
    domain = fields.Char(
        string='Filter Domain', default='[]',
        help="Only records matching this domain are sent; others are logged as skipped. "
             "May use datetime, timedelta, relativedelta, time, context_today(), uid and user.", tracking=True)
    url = fields.Char(
        string='Request URL',
        help="Full URL of the external endpoint. {key} placeholders are filled from the "
             "payload's top-level keys, e.g. https://api.example.com/partners/{external_id}", tracking=True)
    http_method_ids = fields.Many2many(
        'bj.http.method', string='HTTP Method', default=lambda self: self._default_http_method_ids(),
        help="Exactly one method for an outbound configuration.")
    connection_timeout = fields.Integer(default=5, help="Seconds to establish the connection (1-60).", tracking=True)
    read_timeout = fields.Integer(default=15, help="Seconds to wait for the response (1-300).", tracking=True)
    auth_type = fields.Selection(
        [('none', 'None'), ('basic', 'Basic Auth'), ('bearer', 'Bearer Token'), ('api_key', 'API Key'),
         ('oauth2', 'OAuth2 Client Credentials')],
        string='Authorization Type', default='none', required=True,
        help="Basic Auth sends 'Authorization: Basic base64(login:password)'; Bearer Token sends "
             "'Authorization: Bearer <token>'; API Key sends the key in a header or in the query string; "
             "OAuth2 gets an access token from the token URL and sends it as a Bearer token. "
             "Secrets are masked in logs.", tracking=True)
    inbound_auth_type = fields.Selection(
        selection='_inbound_auth_type_selection', string='Caller Authentication',
        compute='_compute_inbound_auth_type', inverse='_inverse_inbound_auth_type',
        help="Inbound endpoint: the credentials callers must send, or get 401. None lets anyone call the "
             "endpoint (then require signatures, Advanced tab). OAuth2 cannot guard an endpoint.")
    auth_login = fields.Char(string='Login', help="Basic Auth user name.", tracking=True)
    auth_password = Secret(string='Password', groups='base.group_system',
                           help="Basic Auth password; readable by Settings administrators only.")
    bearer_token = Secret(groups='base.group_system',
                          help="Sent as 'Authorization: Bearer <token>'; readable by Settings administrators only.")
    api_key_name = fields.Char(
        string='API Key Name', default='X-API-Key',
        help="The header (or query parameter) that carries the key, e.g. X-API-Key or api_key.", tracking=True)
    api_key_value = Secret(
        string='API Key Value', groups='base.group_system',
        help="The key itself; readable by Settings administrators only, masked in logs and URLs.")
    api_key_location = fields.Selection(
        [('header', 'Header'), ('query', 'Query String')], string='Send API Key In', default='header',
        help="Header: sent as a request header. Query String: added to the URL as ?name=key.")
    oauth2_token_url = fields.Char(
        string='Token URL', help="The OAuth2 token endpoint, e.g. https://auth.example.com/oauth/token.", tracking=True)
    oauth2_client_id = fields.Char(string='Client ID', tracking=True)
    oauth2_client_secret = Secret(
        string='Client Secret', groups='base.group_system',
        help="Readable by Settings administrators only, masked in logs.")
    oauth2_scope = fields.Char(string='OAuth2 Scope', help="Space-separated scopes, if the API asks for them.")
    oauth2_audience = fields.Char(string='Audience', help="Sent as audience, if the API asks for it (e.g. Auth0).")
    oauth2_client_auth = fields.Selection(
        [('basic', 'HTTP Basic'), ('body', 'In the Form Body')], string='Client Authentication', default='basic',
        help="How the client ID and secret reach the token endpoint: HTTP Basic (the standard), or as "
             "client_id and client_secret in the form body.")
    oauth2_token_expires_at = fields.Datetime(
        string='Token Expires', compute='_compute_oauth2_token_expires_at',
        help="When the cached access token expires; it is renewed shortly before.")
    tls_verify = fields.Boolean(
        string='Verify TLS Certificate', default=True,
        help="Check the server's certificate against trusted authorities (the system's, plus the CA "
             "certificates below). Turn off only for a test server.", tracking=True)
    tls_ca_bundle = fields.Text(
        string='Extra CA Certificates',
        help="PEM certificates of authorities trusted in addition to the system's, e.g. a company CA "
             "that signed the API's certificate.")
    tls_client_cert = fields.Text(
        string='Client Certificate', groups='base.group_system',
        help="Mutual TLS: the PEM certificate Odoo presents to the server, with its private key below.")
    tls_client_key = SecretText(
        string='Client Private Key', groups='base.group_system',
        help="Mutual TLS: the PEM private key of the client certificate (unencrypted); readable by "
             "Settings administrators only.")
    line_ids = fields.One2many('bj.api.sync.config.line', 'config_id', string='Field Mapping', copy=True)
    mapping_keys = fields.Char(
        string='Keys', compute='_compute_mapping_keys', help="The JSON keys of the mapping lines, in order.")
    used_by_ids = fields.Many2many(
        'bj.api.sync.config', compute='_compute_used_by_ids',
        help="The configurations whose relational mapping lines apply this configuration's lines.")
    header_ids = fields.One2many('bj.api.sync.header', 'config_id', string='Headers', copy=True)
    param_ids = fields.One2many('bj.api.sync.param', 'config_id', string='Parameters', copy=True)
    python_script = fields.Text(
        string='Payload Script',
        help="Optional Python run after the mapping on each request body. request_data holds the "
             "body built so far; set result (or write an expression) to replace it.")
    is_paginated = fields.Boolean(
        tracking=True, help="Send records in batches: one request per page, with a JSON array body.")
    page_size = fields.Integer(default=100, help="Records per request when paginated.", tracking=True)
    max_retries = fields.Integer(
        default=3, help="Immediate delivery: retries after the first attempt, within the call, with exponential "
                        "backoff. Only connection errors, timeouts and HTTP 408, 425, 429, 500, 502, 503, 504 "
                        "are retried. Queued deliveries follow the Retry Schedule instead.", tracking=True)
    delivery_mode = fields.Selection(
        [('immediate', 'Immediate'), ('queued', 'Queued')], default='immediate', required=True,
        help="Immediate: calls send at once, retry within the call (Max Retries) and return the result. "
             "Queued: calls store a delivery in the same transaction; dispatchers send it after commit and "
             "retry it on the Retry Schedule. Automation rules created from this form follow this mode.", tracking=True)
    retry_summary = fields.Char(
        string='Retries', compute='_compute_retry_summary',
        help="How many attempts a request gets, and when, in the chosen delivery mode.")
    queue_paused = fields.Boolean(
        string='Pause Deliveries', help="Queued deliveries are held, not lost, until this is unchecked.", tracking=True)
    queue_retry_schedule = fields.Char(
        string='Retry Schedule', default=DEFAULT_RETRY_SCHEDULE, required=True,
        help="Waits between the attempts of a queued delivery, e.g. '1m, 5m, 30m, 2h, 6h, 12h' "
             "(s, m, h, d); each is jittered by ±20% and a server's Retry-After is honoured. "
             "After the last one the delivery is dead.", tracking=True)
    sign_requests = fields.Boolean(
        tracking=True,
        help="Add Standard Webhooks signature headers (webhook-id, webhook-timestamp, webhook-signature).")
    signing_secret = Secret(
        groups='base.group_system',
        help="HMAC-SHA256 key: 'whsec_' followed by base64, or any text used as is.")
    signing_secret_previous = Secret(
        string='Previous Signing Secret', groups='base.group_system',
        help="While rotating secrets: requests also carry a signature made with this one, until the date below, "
             "so receivers can switch to the new secret in their own time.")
    signing_secret_previous_until = fields.Datetime(
        string='Sign With Both Until',
        help="Until then, requests carry both signatures (webhook-signature: v1,<new> v1,<previous>).")
    log_ids = fields.One2many('bj.api.log', 'config_id', string='Logs')
    job_ids = fields.One2many('bj.api.sync.job', 'config_id', string='Deliveries')
    sync_resume_id = fields.Integer(
        string='Resume After Record', readonly=True, copy=False,
        help="A scheduled sync cut into runs (to stay within Odoo's cron time limit) goes on after this "
             "record id; 0 when no sync is under way.")
    sync_run_started = fields.Datetime(readonly=True, copy=False)
    sync_run_failed = fields.Boolean(readonly=True, copy=False)
    last_sync_date = fields.Datetime(
        string='Last Scheduled Sync', readonly=True, copy=False,
        help="Start of the last scheduled sync that fully succeeded. A scheduled action set to "
             "'changed records only' sends the records written since then.")

    @api.depends('delivery_mode', 'max_retries', 'queue_retry_schedule')
    @api.depends_context('lang')
    def _compute_retry_summary(self):
        for config in self:
            if config.delivery_mode == 'queued':
                try:
                    waits = parse_schedule(config.queue_retry_schedule)
                except ValueError:
                    config.retry_summary = False
                    continue
                config.retry_summary = self.env._(
                    "Up to %(attempts)s attempts per delivery: the first right after commit, then one after "
                    "each wait of the Retry Schedule (%(total)s in all); then the delivery is dead.",
                    attempts=len(waits) + 1, total=_duration(sum(waits), self.env.lang))
            else:
                config.retry_summary = self.env._(
                    "Up to %(attempts)s attempts within the call: the first, then %(retries)s retries with "
                    "exponential backoff (a few seconds); then the request is an error.",
                    attempts=config.max_retries + 1, retries=config.max_retries)

    @api.model
    def _inbound_auth_type_selection(self):
        """The authorization types that may guard an inbound endpoint (``engine/shared/auth.py``)."""
        field = self._fields['auth_type']
        labels = {**dict(field.selection), **dict(field._description_selection(self.env))}
        return [(key, labels[key]) for key in field.get_values(self.env)
                if auth.AUTH_TYPES[key].inbound_refusal(self) is None]

    @api.depends('auth_type')
    def _compute_inbound_auth_type(self):
        allowed = set(self._fields['inbound_auth_type'].get_values(self.env))
        for config in self:
            config.inbound_auth_type = config.auth_type if config.auth_type in allowed else False

    def _inverse_inbound_auth_type(self):
        for config in self.filtered('inbound_auth_type'):
            config.auth_type = config.inbound_auth_type

    @api.onchange('inbound_auth_type')
    def _onchange_inbound_auth_type(self):
        # The form shows the fields of auth_type's value: it follows at once, not on save.
        for config in self.filtered('inbound_auth_type'):
            config.auth_type = config.inbound_auth_type

    @api.depends('line_ids.api_key')
    def _compute_mapping_keys(self):
        for config in self:
            config.mapping_keys = ', '.join(config.line_ids.mapped('api_key'))

    def _compute_used_by_ids(self):
        users = {}
        for line in self.env['bj.api.sync.config.line'].search([('mapping_config_id', 'in', self.ids)]):
            users[line.mapping_config_id.id] = users.get(line.mapping_config_id.id, line.config_id) | line.config_id
        for config in self:
            config.used_by_ids = users.get(config.id, self.browse())

    def _compute_oauth2_token_expires_at(self):
        tokens = self.env['bj.api.sync.token'].sudo()
        for config in self:
            expires_at = False
            key = auth.from_config(config.sudo()).token_key()
            if key:
                expires_at = tokens.search([('key', '=', key)], limit=1).expires_at
            config.oauth2_token_expires_at = expires_at

    def _read_group_groupby(self, *args):
        # (groupby_spec, query) in 18.0, (alias, groupby_spec, query) in 19.0
        self._refuse_secret(args[-2].split(':')[0].split('.')[0])
        return super()._read_group_groupby(*args)

    def _condition_to_sql(self, alias, fname, operator, value, query):
        # 18.0; in 19.0 the secret field refuses the condition itself (secret_field.py)
        self._refuse_secret(fname)
        return super()._condition_to_sql(alias, fname, operator, value, query)

    def _refuse_secret(self, fname):
        if isinstance(self._fields.get(fname), SECRET_TYPES):
            raise_secret(self, self._fields[fname])

    def _default_http_method_ids(self):
        return self.env.ref('bj_api_sync.http_method_post', raise_if_not_found=False)


    @ormcache('self.id', "self.env.context.get('lang')")
    def _outbound_profile(self):
        """The config read for sending (``engine/outbound/profile.py``), kept across transactions and workers until
        the config or one of its parts is saved: reading it costs as much as a small create."""
        return Profile.read(self.sudo())

    @ormcache('self.id')
    def _compiled_mapping(self):
        """The config's mapping compiled (``engine/shared/payload.py``), kept across transactions and workers
        until a mapping line, the model or the name changes: compiling it costs more than a small
        create whose automation rule sends it."""
        return Mapping(self.sudo())

    def _label(self):
        return config_label(self.name)

    @api.constrains('request_type', 'http_method_ids')
    def _check_http_methods(self):
        for config in self.filtered(lambda c: c.request_type == OUTBOUND):
            if len(config.http_method_ids) != 1:
                raise ValidationError(self.env._(
                    '%(config)s: an outbound configuration needs exactly one HTTP method (it has %(count)s).',
                    config=config._label(), count=len(config.http_method_ids)))
            if config.http_method_ids.name == 'GET' and config.is_paginated:
                raise ValidationError(self.env._(
                    '%(config)s: GET sends no body, so it cannot send pages of records; '
                    'turn pagination off or use another method.', config=config._label()))

    @api.constrains('request_type', 'url', 'is_paginated')
    def _check_url(self):
        for config in self.filtered(lambda c: c.request_type == OUTBOUND):
            try:
                parsed = parse_url((config.url or '').strip())
            except LocationParseError:
                parsed = None
            if not parsed or parsed.scheme not in ('http', 'https') or not parsed.host:
                raise ValidationError(self.env._(
                    '%(config)s: the request URL "%(url)s" is not valid; only http:// and https:// URLs are accepted.',
                    config=config._label(), url=config.url or ''))
            if config.is_paginated and placeholders(config.url):
                raise ValidationError(self.env._(
                    '%(config)s: URL placeholders are filled from one record, so they cannot be used with pagination.',
                    config=config._label()))
        self._check_http_methods()

    @api.constrains('connection_timeout', 'read_timeout', 'page_size', 'max_retries')
    def _check_numbers(self):
        for config in self:
            for name, (low, high) in TIMEOUT_RANGES.items():
                if not low <= config[name] <= high:
                    raise ValidationError(self.env._(
                        '%(config)s: %(field)s must be between %(low)s and %(high)s seconds.',
                        config=config._label(), field=self._fields[name].string, low=low, high=high))
            if config.page_size <= 0:
                raise ValidationError(self.env._(
                    '%(config)s: the page size must be greater than 0.', config=config._label()))
            if not 0 <= config.max_retries <= MAX_RETRIES_LIMIT:
                raise ValidationError(self.env._(
                    '%(config)s: max retries must be between 0 and %(limit)s.',
                    config=config._label(), limit=MAX_RETRIES_LIMIT))

    @api.constrains('domain', 'model_id')
    def _check_domain(self):
        for config in self:
            domain = eval_domain(self.env, config.domain, config._label())
            try:
                self.env[config.model_name]._search(domain)
            except Exception as error:
                raise ValidationError(self.env._(
                    '%(config)s: the filter domain is not valid for %(model)s: %(error)s',
                    config=config._label(), model=config.model_name, error=error)) from None

    @api.constrains('queue_retry_schedule')
    def _check_retry_schedule(self):
        for config in self:
            try:
                parse_schedule(config.queue_retry_schedule)
            except ValueError as error:
                raise ValidationError(self.env._(
                    '%(config)s: %(error)s', config=config._label(), error=error)) from None

    @api.constrains('sign_requests', 'signing_secret')
    def _check_signing_secret(self):
        for config in self.filtered('sign_requests'):
            if not config.signing_secret:
                raise ValidationError(self.env._('%(config)s: signing needs a secret.', config=config._label()))

    @api.constrains('tls_ca_bundle', 'tls_client_cert', 'tls_client_key')
    def _check_tls(self):
        for config in self.sudo():
            try:
                tls.check(config.tls_ca_bundle, config.tls_client_cert, config.tls_client_key)
            except tls.TlsError as error:
                raise ValidationError(self.env._('%(config)s: %(error)s', config=config._label(),
                                                 error=self.env._(error.args[0]))) from None

    @api.constrains(lambda self: ('request_type', *auth.config_fields()))
    def _check_auth(self):
        """What the config's auth type finds wrong with its values (``engine/shared/auth.py``); a
        sub-mapping authenticates nothing."""
        for config in self.sudo().filtered(lambda c: c.request_type != SUB_MAPPING):
            problem = auth.type_of(config).check(config)
            if problem:
                raise ValidationError(self.env._(problem))

    def write(self, values):
        if set(values) - RUN_STATE_FIELDS:
            self.env.registry.clear_cache()  # _outbound_profile, _compiled_mapping and the capture's watches
        result = super().write(values)
        if values.get('queue_paused') is False or values.get('active'):
            jobs.wake_dispatcher(self.env)
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

    def action_test_authentication(self):
        """Get an OAuth2 token or complete a TLS handshake now, sending no record; say how it went."""
        self.ensure_one()
        success, message = Outbound(self.sudo()).test_authentication()
        return {
            'type': 'ir.actions.client',
            'tag': 'display_notification',
            'params': {'title': self.env._("Test Authentication: %(config)s", config=self.name), 'message': message,
                       'type': 'success' if success else 'danger', 'sticky': not success},
        }

    def action_open_jobs(self):
        """Every delivery of the config, newest first: what is waiting and what went out."""
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id('bj_api_sync.action_bj_api_sync_job')
        action['domain'] = [('config_id', '=', self.id)]
        action['context'] = {'default_config_id': self.id}
        return action

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
            'name': self.env._("Preview Payload"),
            'res_model': 'bj.api.sync.preview.wizard',
            'views': [(False, 'form')],
            'target': 'new',
            'context': {'default_config_id': self.id},
        }

    def action_send_test(self):
        """Send the first record of the domain now, notify the outcome and open its log."""
        self.ensure_one()
        return self.env['bj.api.sync.preview.wizard'].create({'config_id': self.id}).action_send_test()


def _duration(seconds, lang):
    """'20 hr 36 min', '6 min', '45 sec' in the language ``lang`` (babel's units): a total wait, roughly."""
    locale = babel_locale_parse(lang or 'en_US')
    hours, minutes = divmod(round(seconds) // 60, 60)
    parts = [(timedelta(hours=hours), 'hour'), (timedelta(minutes=minutes), 'minute')] if hours or minutes \
        else [(timedelta(seconds=round(seconds)), 'second')]
    return ' '.join(format_timedelta(delta, granularity=unit, threshold=10 ** 6, format='short', locale=locale)
                    for delta, unit in parts if delta or unit == 'second')
