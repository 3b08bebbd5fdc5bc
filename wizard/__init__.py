from . import bj_api_sync_trigger_wizard
