"""1.2.0: a configuration is outbound, inbound or a sub-mapping, and remote id scopes have names.

* An outbound configuration that has only ever served as a sub-mapping (relational lines use it; it
  never logged a request, queued a delivery or captured a change; no action, rule or fallback sends
  through it) becomes a sub-mapping: it needs no URL and shows no endpoint health. Any other keeps
  its kind.
* An outbound configuration without a remote id scope gets one readable from its name; the remote
  ids kept in the scope of its id (``config:<id>``) move to it (``_fill_remote_scope``).
"""
from odoo import SUPERUSER_ID, api

from odoo.addons.bj_api_sync.models.bj_api_sync_config import OUTBOUND, SUB_MAPPING


def migrate(cr, version):
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    Config = env['bj.api.sync.config'].with_context(active_test=False)
    cr.execute("""
        SELECT config.id FROM bj_api_sync_config config
         WHERE config.request_type = %(outbound)s
           AND NOT (COALESCE(config.sync_on_create, FALSE) OR COALESCE(config.sync_on_update, FALSE)
                    OR COALESCE(config.sync_on_delete, FALSE))
           AND EXISTS (SELECT 1 FROM bj_api_sync_config_line line WHERE line.mapping_config_id = config.id)
           AND NOT EXISTS (SELECT 1 FROM bj_api_log log WHERE log.config_id = config.id)
           AND NOT EXISTS (SELECT 1 FROM bj_api_sync_job job WHERE job.config_id = config.id)
           AND NOT EXISTS (SELECT 1 FROM ir_act_server action WHERE action.bj_api_config_id = config.id)
           AND NOT EXISTS (SELECT 1 FROM bj_api_sync_config other WHERE other.fallback_config_id = config.id)
    """, {'outbound': OUTBOUND})
    Config.browse([config_id for (config_id,) in cr.fetchall()]).write({'request_type': SUB_MAPPING})
    Config.search([('request_type', '=', OUTBOUND), ('remote_id_scope', 'in', (False, ''))])._fill_remote_scope()
