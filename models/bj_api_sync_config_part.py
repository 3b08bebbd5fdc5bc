from odoo import api, models

from ..engine.outbox import capture


class BjApiSyncConfigPart(models.AbstractModel):
    """A row of a config that the cached reading of it depends on (mapping lines, headers, parameters,
    response values): saving one forgets what is cached about configs, in every worker."""
    _name = 'bj.api.sync.config.part'
    _description = 'BJ API Configuration Part'

    def _forget_readings(self):
        self.env.registry.clear_cache()  # bj.api.sync.config: _outbound_profile, _compiled_mapping, ...
        capture.forget_watches(self.env.cr)  # the watched fields follow the mapping

    @api.model_create_multi
    def create(self, vals_list):
        self._forget_readings()
        return super().create(vals_list)

    def write(self, vals):
        self._forget_readings()
        return super().write(vals)

    def unlink(self):
        self._forget_readings()
        return super().unlink()
