from . import bj_http_method
from . import bj_api_sync_key_value
from . import bj_api_sync_config
from . import bj_api_sync_config_line
from . import bj_api_sync_header
from . import bj_api_sync_param
from . import bj_api_log
from . import ir_actions_server
