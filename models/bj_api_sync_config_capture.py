import collections

from odoo import api, fields, models
from odoo.tools import ormcache

from ..engine.outbox import capture
from ..engine.shared.payload import fields_read

# Saving one of these changes which models are hooked: every worker re-hooks (registry signal).
HOOK_FIELDS = frozenset({'sync_on_create', 'sync_on_update', 'sync_on_delete', 'active', 'model_id',
                         'request_type'})
# These change what a hooked model does: every worker forgets the cached watches (cache signal).
WATCH_FIELDS = HOOK_FIELDS | {'sync_field_ids', 'delivery_mode', 'line_ids', 'python_script'}


class BjApiSyncConfig(models.Model):
    """Native change capture: the config itself watches its model's creations, updates and deletions
    (``engine/outbox/capture.py``), without an automation rule."""
    _inherit = 'bj.api.sync.config'

    sync_on_create = fields.Boolean(
        string='On Create', tracking=True,
        help="Send each record created in the model (and in the filter domain when the change commits).")
    sync_on_update = fields.Boolean(
        string='On Update', tracking=True,
        help="Send a record when one of the watched fields changes. Writing the same value again, or a "
             "field that is not watched, sends nothing.")
    sync_on_delete = fields.Boolean(
        string='On Delete', tracking=True,
        help="Send a record when it is deleted, with the payload it had just before.")
    sync_field_ids = fields.Many2many(
        'ir.model.fields', 'bj_api_sync_config_sync_field_rel', 'config_id', 'field_id', string='Watched Fields',
        compute='_compute_sync_field_ids', store=True, readonly=False,
        domain="[('model_id', '=', model_id), ('store', '=', True)]",
        help="On Update: the fields whose change sends the record. Set from the fields the mapping reads "
             "whenever the mapping changes; you may edit the list. Empty: a change of any stored field.")

    @api.depends('model_id', 'line_ids.field_path', 'line_ids.value_type', 'line_ids.python_code', 'python_script')
    def _compute_sync_field_ids(self):
        Fields = self.env['ir.model.fields']
        for config in self:
            # An id never changes: watching it would only clutter the list.
            names = (fields_read(config.sudo()) or set()) - {'id'} if config.model_id else None
            config.sync_field_ids = Fields.search([('model_id', '=', config.model_id.id),
                                                   ('name', 'in', sorted(names))]) if names else False

    @ormcache()
    def _capture_watches(self):
        """{model: (Watch, ...)}: what the active outbound configs capture, cached in every worker until
        a config's capture changes."""
        configs = self.sudo().with_context(active_test=True).search([
            ('request_type', '=', 'out'),
            '|', '|', ('sync_on_create', '=', True), ('sync_on_update', '=', True), ('sync_on_delete', '=', True)])
        watches = collections.defaultdict(list)
        for config in configs:
            events = frozenset(event for event, on in ((capture.CREATE, config.sync_on_create),
                                                       (capture.UPDATE, config.sync_on_update),
                                                       (capture.DELETE, config.sync_on_delete)) if on)
            watches[config.model_name].append(capture.Watch(
                config.id, config.delivery_mode == 'queued', events,
                frozenset(config.sync_field_ids.mapped('name')) or None))
        return {model: tuple(model_watches) for model, model_watches in watches.items()}

    def _register_capture(self):
        """Hook the models the configs capture (called with ``base_automation``'s own hooks)."""
        capture.register(self.env, self._capture_watches())

    def _capture_changed(self, rehook):
        """A config's capture changed: forget the cached watches and, when ``rehook``, hook the models
        again here and in every worker, as ``base_automation`` does for its rules."""
        self.env.registry.clear_cache()
        capture.forget_watches(self.env.cr)
        if rehook:
            self.env['base.automation']._update_registry()

    def _capturing(self):
        """Those of these configs that capture changes (archived or not)."""
        return self.filtered(lambda config: config.sync_on_create or config.sync_on_update or config.sync_on_delete)

    @api.model_create_multi
    def create(self, vals_list):
        configs = super().create(vals_list)
        if configs._capturing():
            self._capture_changed(rehook=True)
        return configs

    def write(self, vals):
        changed = WATCH_FIELDS & set(vals)
        was_capturing = bool(changed and self._capturing())
        result = super().write(vals)
        if changed and (was_capturing or self._capturing()):
            self._capture_changed(rehook=bool(HOOK_FIELDS & changed))
        return result

    def unlink(self):
        capturing = self._capturing()
        result = super().unlink()
        if capturing:
            self._capture_changed(rehook=True)
        return result
