"""What the entry point accepts: a config designated many ways, records given many ways.

Each function returns what the engine works with, or raises a UserError saying
what was wrong with the argument (a caller's mistake, not a network failure).
"""
from collections.abc import Iterable

from odoo import models
from odoo.exceptions import UserError

OUTBOUND = 'out'


def outbound_config(configs: models.BaseModel, ref: int | str | models.BaseModel | None) -> models.BaseModel:
    """The config ``ref`` designates (an id, an XML id, a record; ``None``: ``configs`` itself, one record),
    as superuser (it reads secrets), checked for sending."""
    Config = configs.sudo().with_context(active_test=False)
    if ref in (None, False):
        if len(configs) != 1:
            raise UserError(configs.env._("BJ API: say which configuration to use (config_id_ref), "
                                          "or call the method on one configuration."))
        config = Config.browse(configs.id)
    elif isinstance(ref, models.BaseModel):
        if ref._name != configs._name or len(ref) != 1:
            raise UserError(configs.env._("BJ API: %(ref)s is not one API configuration.", ref=ref))
        config = Config.browse(ref.id)
    elif isinstance(ref, str) and not ref.strip().isdigit():
        config = Config.env.ref(ref.strip(), raise_if_not_found=False)
        if config is None or config._name != configs._name:
            raise UserError(configs.env._("BJ API: no API configuration has the XML id '%(ref)s'.", ref=ref))
    else:
        try:
            config = Config.browse(int(ref))
        except (TypeError, ValueError):
            raise UserError(configs.env._(
                "BJ API: %(ref)r does not designate an API configuration.", ref=ref)) from None
    if not config.exists():
        raise UserError(configs.env._("BJ API: the API configuration %(ref)s does not exist.", ref=ref))
    if config.request_type != OUTBOUND:
        raise UserError(configs.env._("%(config)s is not an outbound configuration.", config=config._label()))
    if len(config.http_method_ids) != 1:
        raise UserError(configs.env._("%(config)s needs exactly one HTTP method.", config=config._label()))
    return config


def records_of(config: models.BaseModel, record_ids: models.BaseModel | int | Iterable[int] | None) -> models.BaseModel:
    """``record_ids`` (records, a record, an id or ids) as records of ``config``'s model."""
    Model = config.env[config.model_name]
    if isinstance(record_ids, models.BaseModel):
        if record_ids._name != config.model_name:
            raise UserError(config.env._(
                "%(config)s sends %(model)s records, not %(given)s.",
                config=config._label(), model=config.model_name, given=record_ids._name))
        return Model.browse(record_ids.ids)
    if record_ids in (None, False):
        return Model
    ids = [record_ids] if isinstance(record_ids, int) else list(record_ids)
    if not all(isinstance(record_id, int) for record_id in ids):
        raise UserError(config.env._(
            "%(config)s: record ids must be integers, got %(ids)r.", config=config._label(), ids=ids))
    return Model.browse(ids)
