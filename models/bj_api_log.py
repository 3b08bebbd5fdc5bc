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
    res_model = fields.Char(string='Model')
    res_ids = fields.Char(string='Record IDs', help="Comma-separated ids of the records concerned.")
    job_id = fields.Many2one('bj.api.sync.job', string='Delivery', ondelete='cascade', index='btree_not_null',
                             help="The queued delivery this attempt belongs to.")
    request_body_pretty = fields.Text(string='Request Body (formatted)', compute='_compute_pretty_bodies')
    response_body_pretty = fields.Text(string='Response Body (formatted)', compute='_compute_pretty_bodies')

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
