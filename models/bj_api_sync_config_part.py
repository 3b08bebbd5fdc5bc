from odoo import api, models


class BjApiSyncConfigPart(models.AbstractModel):
    """A row of a config that the cached reading of it depends on (mapping lines, headers, parameters,
    response values): saving one forgets what is cached about configs, in every worker."""
    _name = 'bj.api.sync.config.part'
    _description = 'BJ API Configuration Part'

    @api.model_create_multi
    def create(self, vals_list):
        self.env.registry.clear_cache()  # bj.api.sync.config: _outbound_profile, _compiled_mapping, ...
        return super().create(vals_list)

    def write(self, vals):
        self.env.registry.clear_cache()
        return super().write(vals)

    def unlink(self):
        self.env.registry.clear_cache()
        return super().unlink()
