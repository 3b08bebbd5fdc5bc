import re

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import ValidationError
from odoo.fields import Command
from odoo.tools import ormcache

from ..engine.inbound import openapi
from ..engine.inbound.front_door import API_PREFIX, MAX_LIMIT, Endpoint
from ..engine.inbound.reverse import ReverseMapping
from ..engine.shared import auth
from ..engine.shared.payload import MappingError

ENDPOINT_PATTERN = re.compile(r'^[a-z0-9_-]+$')
INBOUND_METHODS = ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')


class BjApiSyncConfig(models.Model):
    """Inbound endpoints: external systems call ``/bj_api_sync/v1/<endpoint>`` to read, create,
    update and delete records through the config's mapping (``engine/inbound/front_door.py``)."""
    _inherit = 'bj.api.sync.config'

    endpoint = fields.Char(
        string='Endpoint Name', tracking=True, index=True, copy=False,
        help="Inbound: the name in the URL, /bj_api_sync/v1/<endpoint>; lowercase letters, digits, - and _.")
    inbound_user_id = fields.Many2one(
        'res.users', string='Run As', tracking=True, ondelete='restrict',
        domain=[('share', '=', False)],
        help="Inbound: records are read and written as this user; their access rights and record rules "
             "apply. Give the endpoint a user of its own with just the rights it needs.")
    inbound_url = fields.Char(string='Endpoint URL', compute='_compute_inbound_url')
    inbound_examples = fields.Text(
        string='Examples', compute='_compute_inbound_url',
        help="A curl command for each allowed method; replace the capitalised placeholders with the credentials.")

    @api.depends(lambda self: ('endpoint', 'request_type', 'http_method_ids', 'sign_requests', 'line_ids',
                               *auth.config_fields()))
    def _compute_inbound_url(self):
        base_url = self.env['ir.config_parameter'].sudo().get_param('web.base.url', '')
        for config in self:
            inbound = config.request_type == 'in' and config.endpoint
            config.inbound_url = f"{base_url}{API_PREFIX}/{config.endpoint}" if inbound else False
            config.inbound_examples = openapi.curl_examples(config, base_url) if inbound else False

    @api.model
    @ormcache('endpoint')
    def _inbound_endpoint(self, endpoint):
        """The active inbound config serving ``endpoint``, read once (``engine.inbound.Endpoint``), or
        None; cached until a configuration changes (see ``write``), so a request reads none."""
        config = self.sudo().search([('request_type', '=', 'in'), ('endpoint', '=', endpoint)], limit=1)
        return Endpoint.read(config) if config else None

    def _default_http_method_ids(self):
        # A new endpoint only reads until told otherwise.
        if self.env.context.get('default_request_type') == 'in':
            return self.env.ref('bj_api_sync.http_method_get', raise_if_not_found=False)
        return super()._default_http_method_ids()

    @api.onchange('request_type')
    def _onchange_request_type_methods(self):
        if not self._origin.id:
            self.http_method_ids = self.with_context(default_request_type=self.request_type)._default_http_method_ids()

    @api.model_create_multi
    def create(self, vals_list):
        if any(vals.get('request_type') == 'in' for vals in vals_list):
            self.env.registry.clear_cache()  # _inbound_endpoint
            get = self.env.ref('bj_api_sync.http_method_get', raise_if_not_found=False)
            vals_list = [{'http_method_ids': [Command.set(get.ids)], **vals}
                         if vals.get('request_type') == 'in' and get else vals for vals in vals_list]
        return super().create(vals_list)

    def write(self, values):
        if 'request_type' in values or any(config.request_type == 'in' for config in self):
            self.env.registry.clear_cache()  # _inbound_endpoint
        return super().write(values)

    def unlink(self):
        if any(config.request_type == 'in' for config in self):
            self.env.registry.clear_cache()  # _inbound_endpoint
        return super().unlink()

    @ormcache('self.id')
    def _compiled_reverse_mapping(self):
        """The mapping read in reverse (``engine/inbound/reverse.py``), cached as ``_compiled_mapping`` is."""
        return ReverseMapping(self.sudo())

    @api.constrains('request_type', 'endpoint', 'active')
    def _check_endpoint(self):
        for config in self.filtered(lambda c: c.request_type == 'in'):
            if not ENDPOINT_PATTERN.match(config.endpoint or ''):
                raise ValidationError(self.env._(
                    '%(config)s: the endpoint "%(endpoint)s" may hold only lowercase letters, digits, - and _.',
                    config=config._label(), endpoint=config.endpoint or ''))
            if config.active and self.search_count([
                    ('id', '!=', config.id), ('request_type', '=', 'in'), ('endpoint', '=', config.endpoint)]):
                raise ValidationError(self.env._(
                    '%(config)s: another active inbound configuration has the endpoint "%(endpoint)s".',
                    config=config._label(), endpoint=config.endpoint))

    @api.constrains('request_type', 'http_method_ids', 'inbound_user_id', 'auth_type', 'page_size')
    def _check_inbound(self):
        for config in self.filtered(lambda c: c.request_type == 'in'):
            methods = config.http_method_ids.mapped('name')
            if not methods or set(methods) - set(INBOUND_METHODS):
                raise ValidationError(self.env._(
                    '%(config)s: an inbound configuration allows one or more of %(methods)s.',
                    config=config._label(), methods=', '.join(INBOUND_METHODS)))
            if not config.inbound_user_id or config.inbound_user_id.id == SUPERUSER_ID:
                raise ValidationError(self.env._(
                    '%(config)s: choose the user the endpoint runs as (not the superuser, who bypasses '
                    'access rights and record rules).', config=config._label()))
            refusal = auth.type_of(config).inbound_refusal(config)
            if refusal:
                raise ValidationError(self.env._(refusal))
            if config.page_size > MAX_LIMIT:
                raise ValidationError(self.env._('%(config)s: an endpoint lists at most %(limit)s records per page.',
                                                 config=config._label(), limit=MAX_LIMIT))

    @api.constrains('model_id', 'line_ids', 'request_type')
    def _check_mapping(self):  # pylint: disable=missing-return  # a constraint returns nothing
        super()._check_mapping()
        for config in self.filtered(lambda c: c.request_type == 'in'):
            try:
                ReverseMapping(config)
            except MappingError as error:
                raise ValidationError(str(error)) from None

    def action_download_openapi(self):
        """This endpoint's OpenAPI 3.1 document, to hand to whoever calls it."""
        self.ensure_one()
        return {'type': 'ir.actions.act_url', 'url': f'/bj_api_sync/openapi/{self.id}', 'target': 'self'}
