"""HTTP for the inbound endpoints: requests are translated for ``engine/inbound/front_door.py``, which does
everything else, and its answers translated back."""
import json

from werkzeug.exceptions import RequestEntityTooLarge

from odoo import SUPERUSER_ID, http
from odoo.http import request
from odoo.service.model import MAX_TRIES_ON_CONCURRENCY_FAILURE

from ..engine.inbound import front_door as inbound
from ..engine.inbound import openapi

OPENAPI_PARAMETER = 'bj_api_sync.publish_openapi'
_TRIES = 'bj_api_sync_tries'
_BODY = 'bj_api_sync.body'


class InboundEndpoints(http.Controller):

    # An identifier may hold "/" (INV/2026/0001): the item path takes the rest of the URL.
    @http.route([f'{inbound.API_PREFIX}/<string:endpoint>',
                 f'{inbound.API_PREFIX}/<string:endpoint>/<bj_api_sync_rest:ident>'],
                type='http', auth='none', csrf=False, save_session=False, readonly=False)
    def bj_api_sync_endpoint(self, endpoint, ident=None, **_query):
        # Odoo runs the request again after a concurrency failure; the last try answers instead of failing.
        tries = getattr(request, _TRIES, 0) + 1
        setattr(request, _TRIES, tries)
        answer = inbound.serve(request.env, endpoint, ident, _incoming(request.httprequest),
                               last_try=tries >= MAX_TRIES_ON_CONCURRENCY_FAILURE)
        return _response(answer)

    @http.route(f'{inbound.API_PREFIX}/openapi.json', type='http', auth='none', methods=['GET'], csrf=False,
                save_session=False)
    def bj_api_sync_openapi(self):
        """The OpenAPI document of every active inbound endpoint, when the system parameter publishes it."""
        env = request.env(user=SUPERUSER_ID)
        env = env(context={**env.context, 'lang': inbound.best_language(env, _languages(request.httprequest))})
        if not _enabled(env['ir.config_parameter'].get_param(OPENAPI_PARAMETER)):
            return _response(inbound.Answer(404, inbound.error_body(404, env._("Not found."))))
        configs = env['bj.api.sync.config'].search([('request_type', '=', 'in'), ('endpoint', '!=', False)])
        return _response(inbound.Answer(200, openapi.document(configs, _base_url(env))))

    @http.route('/bj_api_sync/openapi/<int:config_id>', type='http', auth='user', methods=['GET'])
    def bj_api_sync_openapi_download(self, config_id):
        """One endpoint's OpenAPI document, downloaded from its form (Settings administrators only)."""
        if not request.env.user.has_group('base.group_system'):
            raise request.not_found()
        config = request.env['bj.api.sync.config'].browse(config_id).exists()
        if not config or config.request_type != 'in' or not config.endpoint:
            raise request.not_found()
        text = json.dumps(openapi.document(config.sudo(), _base_url(request.env)), indent=2, ensure_ascii=False)
        return request.make_response(text, [
            ('Content-Type', 'application/json; charset=utf-8'),
            ('Content-Disposition', http.content_disposition(f'{config.endpoint}.openapi.json')),
        ])


def _incoming(httprequest):
    return inbound.Incoming(
        method=httprequest.method,
        path=httprequest.path,
        query_string=httprequest.query_string.decode('latin-1'),
        args=httprequest.args,
        headers=httprequest.headers,
        mimetype=httprequest.mimetype,
        client=httprequest.remote_addr,
        read=lambda size: _body(httprequest, size),
        languages=_languages(httprequest),
    )


def _languages(httprequest):
    return tuple(httprequest.accept_languages.values())


def _body(httprequest, size):
    """The body, or None when it is over ``size`` bytes (what is over is not read); read once, so a
    request run again after a concurrency failure reads the same body."""
    if _BODY not in httprequest.environ:
        body = None
        if (httprequest.content_length or 0) <= size:
            try:
                body = httprequest.get_data(cache=True)
            except RequestEntityTooLarge:  # over Odoo's own limit, without a Content-Length
                body = None
        httprequest.environ[_BODY] = body if body is not None and len(body) <= size else None
    return httprequest.environ[_BODY]


def _response(answer):
    if answer.body is None:
        response = request.make_response(b'', list(answer.headers.items()), status=answer.status)
        response.headers.remove('Content-Type')  # no content, no type
        return response
    return request.make_response(answer.text, [('Content-Type', 'application/json; charset=utf-8'),
                                               *answer.headers.items()], status=answer.status)


def _base_url(env):
    return env['ir.config_parameter'].sudo().get_param('web.base.url', '')


def _enabled(value):
    return (value or '').strip().lower() in ('1', 'true', 'yes')
