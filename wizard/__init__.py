from . import bj_api_sync_trigger_wizard
from . import bj_api_sync_preview_wizard
