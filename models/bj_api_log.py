import json

from odoo import api, fields, models


class BjApiLog(models.Model):
    """One HTTP attempt, or one call refused or skipped before any attempt.

    Rows are written by the engine (``engine/shared/logbook.py``) with secrets already masked.
    """
    _name = 'bj.api.log'
    _description = 'BJ API Log'
    _order = 'id desc'

    name = fields.Char(required=True)
    direction = fields.Selection(
        [('out', 'Outbound'), ('in', 'Inbound')], default='out', required=True, index=True,
        help="Outbound: a request Odoo sent. Inbound: a request an external system sent to an endpoint of Odoo.")
    client_address = fields.Char(help="Inbound: the address of the client that called the endpoint.")
    config_id = fields.Many2one('bj.api.sync.config', string='API Configuration', ondelete='cascade', index=True)
    status = fields.Selection([
        ('success', 'Success'),
        ('retry', 'Failed, retried'),
        ('error', 'Error'),
        ('skipped', 'Skipped'),
    ], index=True, help="Success: the server answered 2xx. Failed, retried: this attempt failed and another "
                        "followed. Error: the request failed for good, or could not be built. Skipped: "
                        "nothing was sent (record outside the domain, archived configuration...).")
    http_method = fields.Char(string='Method')
    url = fields.Char(string='URL')
    request_headers = fields.Text()
    request_body = fields.Text()
    response_status_code = fields.Integer(string='Status Code')
    response_headers = fields.Text()
    response_body = fields.Text()
    error_message = fields.Text()
    duration_ms = fields.Integer(string='Duration (ms)', aggregator='avg')
    attempt = fields.Integer(help="1 for the first try, 2 for the first retry... 0 when nothing was sent.")
    res_model = fields.Selection(selection='_model_selection', string='Model')
    res_ids = fields.Char(string='Record IDs', help="Comma-separated ids of the records concerned.")
    job_id = fields.Many2one('bj.api.sync.job', string='Delivery', ondelete='cascade', index='btree_not_null',
                             help="The queued delivery this attempt belongs to.")
    request_body_pretty = fields.Text(string='Request Body (formatted)', compute='_compute_pretty_bodies')
    response_body_pretty = fields.Text(string='Response Body (formatted)', compute='_compute_pretty_bodies')

    @api.model
    def _model_selection(self):
        return model_selection(self.env)

    @api.depends('name', 'direction', 'http_method', 'res_model', 'res_ids')
    @api.depends_context('lang')
    def _compute_display_name(self):
        # Outbound rows are titled by their records as people know them, in the reader's language;
        # inbound rows by the path that was called.
        outbound = self.filtered(lambda log: log.direction == 'out' and log.res_model and log.res_ids)
        titles = records_titles(self.env, [(log.res_model, log.res_ids) for log in outbound])
        for log in self:
            title = titles.get((log.res_model, log.res_ids)) if log in outbound else None
            log.display_name = f"{log.http_method} {title}" if title and log.http_method else title or log.name

    @api.depends('request_body', 'response_body')
    def _compute_pretty_bodies(self):
        for log in self:
            log.request_body_pretty = pretty_json(log.request_body)
            log.response_body_pretty = pretty_json(log.response_body)

    def _action_open_form(self):
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'res_model': self._name,
            'res_id': self.id,
            'views': [(False, 'form')],
            'target': 'current',
        }


def pretty_json(text):
    """``text`` indented when it is JSON (bodies are stored as sent), as is otherwise."""
    if not text:
        return text
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def model_selection(env):
    """(model, its description in the reader's language) of every model: the records of a log row, a
    delivery or a remote id are named by their model's description, not its technical name."""
    return [(model.model, model.name) for model in env['ir.model'].sudo().search([('transient', '=', False)])]


def records_titles(env, rows, shown=3):
    """{(model, comma-separated ids): 'Contact: Azure Interior, Deco Addict'} for ``rows`` of (model,
    ids): the model's description and the display names of the first ``shown`` records (#id for a
    record since deleted), the count of the others. One query per model."""
    names = record_names(env, [(model, record_id) for model, ids in rows for record_id in _ids(ids)[:shown]])
    titles = {}
    for model, ids in rows:
        if model not in env:
            continue
        record_ids = _ids(ids)
        shown_names = ', '.join(names.get((model, record_id)) or f'#{record_id}' for record_id in record_ids[:shown])
        if len(record_ids) > shown:
            shown_names = env._("%(names)s and %(count)s more", names=shown_names, count=len(record_ids) - shown)
        titles[(model, ids)] = f"{env['ir.model'].sudo()._get(model).name}: {shown_names}"
    return titles


def record_names(env, records):
    """{(model, id): display name} of ``records``, pairs of (model, id), in the reader's language; none
    for a record since deleted or a model no longer installed. One query per model."""
    wanted = {}
    for model, record_id in records:
        if model in env:
            wanted.setdefault(model, set()).add(record_id)
    names = {}
    for model, ids in wanted.items():
        found = env[model].sudo().browse(sorted(ids)).exists()
        names.update({(model, record.id): record.display_name for record in found})
    return names


def _ids(text):
    return [int(part) for part in (text or '').split(',') if part.strip().isdigit()]
