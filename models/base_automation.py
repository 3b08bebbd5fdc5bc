from odoo import models


class BaseAutomation(models.Model):
    _inherit = 'base.automation'

    def _register_hook(self):
        # base_automation removes every create/write/unlink hook of every model before hooking its rules
        # again (_update_registry): the change capture hooks on top of them, each time.
        super()._register_hook()
        self.env['bj.api.sync.config']._register_capture()
