"""No echoes: a change made through an inbound endpoint is not sent back to the system it came from.

The inbound front door makes its changes with ``ORIGIN`` in the context (the endpoint's id). The change
capture keeps that origin with each captured record; when it plans, an outbound configuration that
shares the endpoint's remote-id scope (the same remote system) skips those records and logs why, unless
the endpoint allows echoes. Other configurations (other systems) send them as usual.
"""
from typing import TYPE_CHECKING

from odoo.tools.translate import LazyTranslate

if TYPE_CHECKING:
    from odoo.api import Environment

_lt = LazyTranslate(__name__)

ORIGIN = 'bj_api_sync_inbound_origin'  # context key: the id of the inbound endpoint making the change


def origin(env: 'Environment') -> int | None:
    """The inbound endpoint whose request is making the changes of ``env``, if any."""
    return env.context.get(ORIGIN)


def suppressing_scope(env: 'Environment', endpoint_id: int) -> str | None:
    """The remote-id scope the changes of the inbound endpoint ``endpoint_id`` must not be sent back to;
    None when it allows echoes or names no scope."""
    endpoint = env['bj.api.sync.config'].sudo().with_context(active_test=False).browse(endpoint_id).exists()
    if not endpoint or endpoint.inbound_echo:
        return None
    return (endpoint.remote_id_scope or '').strip() or None


def reason(env: 'Environment', endpoint_id: int, scope: str) -> str:
    """Why a delivery was not made (its log row says it)."""
    endpoint = env['bj.api.sync.config'].sudo().with_context(active_test=False).browse(endpoint_id)
    return _lt("changed through the inbound endpoint '%(endpoint)s' of the same remote system (scope %(scope)s): "
               "not sent back to it (no echo)", endpoint=endpoint.name, scope=scope)
