"""Preview Payload and Send Test: what a configuration would send for one sample record.

Everything is built by the engine's front door (``Outbound``: planned, then
finished as it would be sent, secrets masked); this wizard only shows it.
"""
import dataclasses

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..engine.outbound import arguments
from ..engine.outbound.front_door import Outbound
from ..engine.outbound.remote import REMOTE_ID
from ..engine.outbound.request import RequestError
from ..engine.shared.logbook import headers_text
from ..models.bj_api_log import pretty_json

# Each request gets its own Idempotency-Key (and webhook-id when signing) when it is sent; the preview
# finishes its request with this one (a header value is Latin-1), then says so in the reader's language.
SAMPLE_KEY = 'new-uuid-for-each-request'
PREVIEW_FIELDS = ('preview_method', 'preview_url', 'preview_headers', 'preview_body',
                  'preview_error', 'preview_notice')


class BjApiSyncPreviewWizard(models.TransientModel):
    _name = 'bj.api.sync.preview.wizard'
    _description = 'BJ API: Preview Payload and Send Test'

    config_id = fields.Many2one('bj.api.sync.config', string='API Configuration', required=True,
                                ondelete='cascade')
    res_model = fields.Char(related='config_id.model_name', string='Model')
    res_id = fields.Many2oneReference(
        string='Sample Record', model_field='res_model',
        compute='_compute_res_id', store=True, readonly=False, precompute=True,
        help="The record whose request is previewed or sent. By default, the first record "
             "matching the filter domain.")
    preview_method = fields.Char(string='Method', compute='_compute_preview')
    preview_url = fields.Char(string='Final URL', compute='_compute_preview')
    preview_headers = fields.Text(
        string='Headers', compute='_compute_preview',
        help="Headers as they would be sent; secret values are masked (***).")
    preview_body = fields.Text(string='Body', compute='_compute_preview',
                               help="The JSON body, pretty-printed.")
    preview_error = fields.Text(string='Error', compute='_compute_preview',
                                help="The error that would stop this request.")
    preview_notice = fields.Text(string='Notes', compute='_compute_preview')

    @api.depends('config_id')
    def _compute_res_id(self):
        for wizard in self:
            wizard.res_id = wizard._first_sample_id()

    def _first_sample_id(self):
        """The first record of the model matching the filter domain (any record if it cannot be evaluated)."""
        config = self.config_id
        if not config.model_name or config.model_name not in self.env:
            return False
        try:
            with self.env.cr.savepoint(flush=False):
                return Outbound(config.sudo()).planner.search(limit=1).id
        except Exception:  # noqa: BLE001 - the preview then shows what is wrong with the domain
            return self.env[config.model_name].search([], limit=1).id

    @api.depends('config_id', 'res_id')
    def _compute_preview(self):
        for wizard in self:
            wizard.update(wizard._preview_values())

    def _preview_values(self):
        values = dict.fromkeys(PREVIEW_FIELDS, False)
        if not self.config_id:
            return values
        if not self.res_id:
            values['preview_notice'] = self.env._(
                "Pick a sample record of %(model)s to preview its request.", model=self.res_model or '')
            return values
        try:
            with self.env.cr.savepoint(flush=False):
                outbound, records = self._outbound_and_records()
                planned = list(outbound.plan(records))
        except Exception as error:  # noqa: BLE001 - shown as the error that would stop the call
            values['preview_error'] = str(error)
            return values
        config, outcomes = outbound.planner.config, outbound.outcomes
        notices, errors = [], []
        for item in planned:
            sender = outbound
            if not item.skipped and not item.error:
                item, sender, notice = self._remote_id(outbound, item)
                if notice:
                    notices.append(notice)
            if item.skipped:
                notices.append(outcomes.text(item.skipped))
                continue
            try:
                request = sender.finish(item, SAMPLE_KEY) if not item.error else None
            except RequestError as error:
                item.error = error.args[0]
            if item.error:
                errors.append(outcomes.text(item.error))
                continue
            redact = sender.outcomes.redactor
            values.update(
                preview_method=request.method,
                preview_url=redact.url(request.url),
                preview_headers=headers_text(redact.headers(request.headers)).replace(
                    SAMPLE_KEY, self.env._("(a new UUID for each request)")),
                preview_body=redact.text(pretty_json(request.body.decode())) if request.body else False,
            )
            if not request.body:
                notices.append(self.env._("%(method)s sends no body: the payload's keys are in the URL's query string.",
                                          method=request.method))
            if config.is_paginated:
                notices.append(self.env._(
                    "Paginated: each request carries up to %(size)s records as a JSON array; "
                    "this preview shows the page holding the sample record only.", size=config.page_size))
        if not config.active:
            notices.append(self.env._("Unarchive the configuration to preview and send its requests."))
        values['preview_error'] = '\n'.join(errors) or False
        values['preview_notice'] = '\n'.join(notices) or False
        return values

    def _remote_id(self, outbound, item):
        """What remote ids change for ``item``, as when it is sent (``Outbound.route``): (the item, the
        front door it goes through, a notice saying which remote id it uses or why it falls back)."""
        remote = outbound.profile.remote
        route = outbound.route(item)
        if route.skipped:
            return dataclasses.replace(route.item, skipped=route.skipped), route.sender, None
        if route.via_fallback:
            notice = self.env._('No remote id in scope %(scope)s yet: the record goes through the fallback '
                                'configuration "%(fallback)s".', scope=remote.scope, fallback=route.sender.profile.name)
            return route.item, route.sender, notice
        if remote.needs_remote_id:
            return route.item, outbound, self.env._("Remote id in scope %(scope)s: %(remote_id)s.",
                                                    scope=remote.scope, remote_id=route.item.url_values[REMOTE_ID])
        return route.item, outbound, None

    def _outbound_and_records(self):
        """The front door of the configuration (checked for sending) and the sample as records."""
        config = arguments.outbound_config(self.env['bj.api.sync.config'], self.config_id)
        return Outbound(config), arguments.records_of(config, self.res_id)

    def action_send_test(self):
        """Send the sample record's request now (one attempt, no retry), notify the outcome and open its log."""
        self.ensure_one()
        if not self.res_id:
            raise UserError(self.env._(
                "%(config)s: no record of %(model)s matches the filter domain; open Preview Payload to pick a "
                "sample record.", config=self.config_id._label(), model=self.res_model))
        outbound, records = self._outbound_and_records()
        config = outbound.planner.config
        result = outbound.deliver(outbound.plan_or_raise(records), rule=outbound.single_attempt())
        log = self.env['bj.api.log'].browse(result['log_ids'][-1:])
        if result['skipped_ids'] and not result['requests']:
            kind, message = 'warning', log.error_message
        elif result['errors']:
            kind, message = 'danger', result['errors'][0]
        else:
            kind, message = 'success', self.env._(
                "%(method)s %(url)s answered HTTP %(status)s in %(duration)s ms.",
                method=log.http_method, url=log.url, status=log.response_status_code, duration=log.duration_ms)
        return {
            'type': 'ir.actions.client',
            'tag': 'display_notification',
            'params': {
                'title': self.env._("Send Test: %(config)s", config=config.name),
                'message': message,
                'type': kind,
                'sticky': kind == 'danger',
                'next': log._action_open_form() if log else {'type': 'ir.actions.act_window_close'},
            },
        }

