from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command
from odoo.tools import SQL

from ..engine.outbound.outcome import UNFINISHED
from ..engine.outbound.remote import scope_of
from .bj_api_sync_config import OUTBOUND


class BjApiSyncConfig(models.Model):
    """Remote ids and response processing: keeping the remote system in sync (``engine/outbound/remote.py``)."""
    _inherit = 'bj.api.sync.config'

    remote_id_scope = fields.Char(
        string='Remote ID Scope', tracking=True, copy=False,
        help="Configurations with the same scope share remote ids: the POST, PUT (or PATCH) and DELETE "
             "configurations of one remote resource, e.g. crm.contacts. Left empty, it is the configuration's "
             "name (made unique), for this configuration alone; a duplicate gets its own.")
    remote_id_path = fields.Char(
        string='Remote ID Path', tracking=True,
        help="Dotted path of the id in a successful JSON response, e.g. id or data.id: it is kept as the "
             "record's remote id in the scope, and {remote_id} in URLs is replaced by it.")
    response_line_ids = fields.One2many(
        'bj.api.sync.response.line', 'config_id', string='Response Values', copy=True,
        help="Values read from a successful response and written to the record sent.")
    fallback_config_id = fields.Many2one(
        'bj.api.sync.config', string='Fallback Configuration', tracking=True,
        domain="[('id', '!=', id), ('model_id', '=', model_id), ('request_type', '=', 'out')]",
        help="Records without a remote id in the scope are sent through this configuration instead "
             "(upsert: PUT when the remote id is known, else the POST that creates it).")
    skip_unchanged = fields.Boolean(
        tracking=True,
        help="Do not send a record whose payload is the same as the last one delivered in the scope "
             "(logged as skipped: unchanged).")
    link_count = fields.Integer(string='Remote IDs', compute='_compute_link_count')

    def _remote_scope(self):
        return scope_of(self.id, self.remote_id_scope)

    @api.model_create_multi
    def create(self, vals_list):
        taken = set()
        for vals in vals_list:
            kind = vals.get('request_type') or self.env.context.get('default_request_type') or OUTBOUND
            if kind == OUTBOUND and not (vals.get('remote_id_scope') or '').strip() and vals.get('name'):
                vals['remote_id_scope'] = self._unique_scope(vals['name'], taken=taken)
                taken.add(vals['remote_id_scope'])
        configs = super().create(vals_list)
        configs._fill_remote_scope()
        return configs

    def write(self, values):
        result = super().write(values)
        if {'remote_id_scope', 'request_type'} & set(values):
            self._fill_remote_scope()
        return result

    def _fill_remote_scope(self):
        """Give each outbound config without a scope one that people can read: its name, made unique.
        Remote ids it kept in the scope of its id (``config:<id>``, before scopes had names) move with it."""
        for config in self.filtered(lambda c: c.request_type == OUTBOUND and not (c.remote_id_scope or '').strip()):
            scope = self._unique_scope(config.name, config)
            self.env.cr.execute(SQL("UPDATE bj_api_sync_link SET scope = %s WHERE scope = %s",
                                    scope, scope_of(config.id, False)))
            # Deliveries waiting in the config's order (engine/outbound/remote.py) keep their place.
            self.env.cr.execute(SQL(
                "UPDATE bj_api_sync_job SET ordering_key = %s || substr(ordering_key, %s) "
                "WHERE config_id = %s AND state IN %s AND starts_with(ordering_key, %s)",
                scope, len(str(config.id)) + 1, config.id, UNFINISHED, f'{config.id}:'))
            config.with_context(mail_notrack=True).remote_id_scope = scope
            self.env['bj.api.sync.link'].invalidate_model(['scope'])

    @api.model
    def _unique_scope(self, name, config=None, taken=()):
        """``name``, or ``name (2)``... when it is taken: by another config, or by remote ids that another
        config (or a deleted one) wrote."""
        name = ' '.join((name or '').split())
        scope, number = name, 1
        while scope in taken or self._scope_held(scope, config):
            number += 1
            scope = f'{name} ({number})'
        return scope

    @api.model
    def _scope_held(self, scope, config=None):
        other = [('id', '!=', config.id)] if config else []
        link_of_other = [('config_id', '!=', config.id)] if config else []
        return bool(self.with_context(active_test=False).search_count(
            [*other, ('remote_id_scope', '=', scope)], limit=1)
            or self.env['bj.api.sync.link'].sudo().search_count([*link_of_other, ('scope', '=', scope)], limit=1))

    def _compute_link_count(self):
        counts = {}
        scopes = {config.id: config._remote_scope() for config in self}
        if self.ids:
            groups = self.env['bj.api.sync.link'].sudo()._read_group(
                [('scope', 'in', list(scopes.values()))], ['scope'], ['__count'])
            counts = dict(groups)
        for config in self:
            config.link_count = counts.get(scopes[config.id], 0)

    def action_open_links(self):
        self.ensure_one()
        # The domain before the translated name: Odoo 19's term extractor takes 'scope' for a term otherwise.
        return {
            'type': 'ir.actions.act_window',
            'domain': [('scope', '=', self._remote_scope())],
            'name': self.env._('Remote IDs'),
            'res_model': 'bj.api.sync.link',
            'view_mode': 'list,form',
        }

    @api.constrains('fallback_config_id', 'model_id')
    def _check_fallback(self):
        for config in self.filtered('fallback_config_id'):
            fallback = config.fallback_config_id
            if fallback.model_id != config.model_id:
                raise ValidationError(self.env._(
                    '%(config)s: the fallback configuration "%(fallback)s" sends %(other)s records, not %(model)s.',
                    config=config._label(), fallback=fallback.name, other=fallback.model_name,
                    model=config.model_name))
            seen = config
            while fallback:
                if fallback in seen:
                    raise ValidationError(self.env._(
                        '%(config)s: its fallback configurations lead back to "%(fallback)s" (a loop).',
                        config=config._label(), fallback=fallback.name))
                seen |= fallback
                fallback = fallback.fallback_config_id

    def action_create_sync_companions(self):
        """From a POST configuration: its update (PUT, or PATCH with ``update_method`` in the context)
        and DELETE companions, in the same scope with the same mapping, wired by the change capture:
        creation and update go to the update configuration, which falls back to this one; deletion
        goes to the DELETE configuration."""
        self.ensure_one()
        if self.http_method_ids.name != 'POST' or not self.remote_id_path:
            raise UserError(self.env._(
                '%(config)s: companions are made from a POST configuration with a Remote ID Path '
                '(where the created object\'s id is in the answer).', config=self._label()))
        self._fill_remote_scope()
        item_url = f"{(self.url or '').rstrip('/')}/{{remote_id}}"
        update_method = self.env.context.get('update_method', 'PUT')
        # Companions share the scope (a copy gets a scope of its own) and capture only what they send.
        common = {'remote_id_scope': self.remote_id_scope,
                  'sync_on_create': False, 'sync_on_update': False, 'sync_on_delete': False}
        update = self.copy({
            **common, 'sync_on_create': True, 'sync_on_update': True,
            'name': self.env._('%(name)s (update)', name=self.name), 'url': item_url, 'fallback_config_id': self.id,
            'skip_unchanged': True, 'http_method_ids': [Command.set(self._http_method(update_method).ids)]})
        delete = self.copy({
            **common, 'sync_on_delete': True,
            'name': self.env._('%(name)s (delete)', name=self.name), 'url': item_url, 'remote_id_path': False,
            'fallback_config_id': False,
            'response_line_ids': [Command.clear()], 'http_method_ids': [Command.set(self._http_method('DELETE').ids)]})
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._('Remote IDs: %(scope)s', scope=self.remote_id_scope),
            'res_model': self._name,
            'view_mode': 'list,form',
            'domain': [('id', 'in', (self | update | delete).ids)],
        }

    def _http_method(self, name):
        return self.env['bj.http.method'].search([('name', '=', name)], limit=1)
