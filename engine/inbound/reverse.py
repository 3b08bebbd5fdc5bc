"""A config's mapping lines read in reverse: what an external system sends to an inbound endpoint
becomes field values, query parameters become a search domain, the URL's id finds a record.

Each line reads its ``api_key`` (a dotted key is a nested object of the input) and writes:

* plain lines: the field of a one-field path; through a many-to-one (``country_id.code``), the
  related record that has the value (``"UA"`` → ``country_id``); deeper paths are read-only;
* relational lines: the related record(s), found by the identifier of their sub-mapping (a scalar,
  or the object the sub-mapping gives), or by Odoo ids without one;
* python lines: their result, computed from ``value`` (the key's input) and ``request_data`` (the
  whole body), into the line's field, or several fields when the result is a dict and no field is set;
* constant lines: their value into their field, at every create and update.

The compiled reverse mapping keeps no record or environment (it is cached like ``payload.Mapping``);
each call gets the model in the inbound user's environment, so lookups obey that user's rights.
"""
import base64
import binascii
import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING

from odoo.fields import Command
from odoo.models import MAGIC_COLUMNS, BaseModel

from ..shared.payload import X2MANY, MappingError, line_label, parse_constant, resolve_path
from ..shared.sandbox import CompiledScript, ScriptError, script_context

if TYPE_CHECKING:
    from odoo.fields import Field

RESERVED_QUERY = ('limit', 'offset')
_NEVER_WRITTEN = frozenset(MAGIC_COLUMNS) | {'display_name'}


class InputError(Exception):
    """What the client sent cannot be taken; the message names the key, ``line_id`` its mapping line."""

    def __init__(self, message: str, line_id: int | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.line_id = line_id
        self.status = status


def writable(field: 'Field') -> bool:
    return field.name not in _NEVER_WRITTEN and not (field.compute and field.readonly and not field.inverse)


class ReverseMapping:
    """The mapping lines of an inbound config, compiled once for reading requests."""

    def __init__(self, config: BaseModel) -> None:
        model = config.env[config.model_name]
        lines = config.line_ids.sorted(lambda line: (line.sequence, line.id))
        self.keys = {key.name: key for key in (_Key(config, line, model) for line in lines)}
        self.identifier = next((key for key in self.keys.values() if key.identifier), None)
        # Keys of the objects that hold nested keys (``address`` for ``address.city``).
        self.parents = {key.path[:size] for key in self.keys.values() for size in range(1, len(key.path))}

    def values(self, model: BaseModel, data: object, record: BaseModel | None = None) -> dict[str, object]:
        """Field values to create (no ``record``) or to write on ``record`` from the body ``data``."""
        if not isinstance(data, dict):
            raise InputError(model.env._(
                "the body must be a JSON object, not %(kind)s", kind=_json_kind(model.env, data)))
        given = self._flatten(model.env, data, ())
        values = {}
        for key in self.keys.values():
            if key.kind == 'constant':
                # A body may repeat a constant (what a GET gave back), not change it.
                if key.name in given and given[key.name] != key.constant:
                    raise InputError(model.env._("the key '%(key)s' always has the value %(value)s",
                                                 key=key.name, value=key.constant), key.line_id)
                if key.field:
                    values[key.field] = key.constant
            elif key.name in given:
                values.update(key.read(model, given[key.name], data, record))
        return values

    def domain(self, model: BaseModel, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str, object]]:
        """The search domain of a list's query parameters (``(name, value)`` pairs); a repeated
        parameter matches any of its values."""
        wanted = {}
        for name, text in pairs:
            if name in RESERVED_QUERY:
                continue
            key = self.keys.get(name)
            if key is None or not key.filter_path:
                raise InputError(model.env._("cannot filter on '%(key)s': filters are the keys of plain and relational "
                                             "mapping lines (%(keys)s)",
                                             key=name, keys=', '.join(self.filter_keys()) or '-'),
                                 key.line_id if key else None)
            wanted.setdefault(key, []).append(key.filter_value(model, text))
        return [(key.filter_path, 'in', values) if len(values) > 1 else (key.filter_path, '=', values[0])
                for key, values in wanted.items()]

    def filter_keys(self) -> list[str]:
        return [key.name for key in self.keys.values() if key.filter_path]

    def identify(self, model: BaseModel, text: str) -> list[tuple[str, str, object]] | None:
        """The domain of the record the URL names, or None when no record can have that id."""
        if self.identifier is None:
            return [('id', '=', int(text))] if text.isdigit() else None
        try:
            return [(self.identifier.filter_path, '=', self.identifier.filter_value(model, text))]
        except InputError:
            return None

    def _flatten(self, env, data, prefix):
        """{dotted key: value} of the mapped keys in ``data``; an unknown key is refused."""
        found = {}
        for name, value in data.items():
            path = prefix + (name,)
            dotted = '.'.join(path)
            if dotted in self.keys:
                found[dotted] = value
            elif path in self.parents and isinstance(value, dict):
                found.update(self._flatten(env, value, path))
            else:
                raise InputError(env._("unknown key '%(key)s': the endpoint takes %(keys)s",
                                       key=dotted, keys=', '.join(self.keys) or '-'))
        return found


class _Key:
    """One mapping line, read in reverse."""

    def __init__(self, config, line, model):
        self.name = line.api_key.strip()
        self.path = tuple(self.name.split('.'))
        self.line_id = line.id
        self.identifier = line.is_identifier
        self.kind = line.value_type
        self.where = line_label(config, line)
        self.field = self.filter_path = self.filter_field = self.script = self.constant = None
        self.lookup = None  # (comodel, field path, key in a sub-mapping's object): related records found by value
        path = (line.field_path or '').strip()
        try:
            if self.kind in ('plain', 'relational'):
                self._read_path(model, line, path)
            elif path:
                chain = resolve_path(model, path)
                if len(chain) > 1 or not writable(chain[0]):
                    raise MappingError(model.env._("'%(path)s' is not a field that can be written", path=path))
                self.field = chain[0].name
            if self.kind == 'python':
                self.script = CompiledScript(line.python_code, self.where)
            elif self.kind == 'constant':
                self.constant = parse_constant(line.constant_value)
        except (MappingError, ScriptError) as error:
            raise MappingError(f"{self.where}: {error}") from None

    def _read_path(self, model, line, path):
        chain = resolve_path(model, path)
        first = chain[0]
        sub_identifier = line.mapping_config_id.line_ids.filtered('is_identifier')[:1] \
            if self.kind == 'relational' else None
        self.filter_path = path
        if sub_identifier and sub_identifier.field_path:
            identifier_path = sub_identifier.field_path.strip()
            self.filter_path = f"{path}.{identifier_path}"
            if len(chain) == 1:
                self.field = first.name
                self.lookup = (first.comodel_name, identifier_path, sub_identifier.api_key.strip())
        elif len(chain) == 1:
            self.field = first.name
        elif len(chain) == 2 and first.type == 'many2one':
            self.field = first.name
            self.lookup = (first.comodel_name, chain[1].name, None)
        if self.field and not writable(first):
            self.field = self.lookup = None
        self.filter_field = resolve_path(model, self.filter_path)[-1]

    def read(self, model, value, data, record):  # pylint: disable=method-required-super  # not an Odoo model
        """{field: value} that the key's input ``value`` writes."""
        if self.script:
            context = script_context(model.env, record if record else model.browse(), data, value=value,
                                     direction='in')
            try:
                result = self.script.run(context)
            except ScriptError as error:
                raise InputError(str(error), self.line_id) from None
            if self.field:
                return {self.field: result}
            if result is None or isinstance(result, dict):
                return result or {}
            raise InputError(model.env._("%(where)s: without a field, the script must give a dict of field values",
                                         where=self.where), self.line_id, status=500)
        if not self.field:
            raise InputError(model.env._("the key '%(key)s' is read-only", key=self.name), self.line_id)
        field = model._fields[self.field]
        if self.lookup:
            return {self.field: self._looked_up(model, field, value)}
        return {self.field: self._converted(model, field, value)}

    def _looked_up(self, model, field, value):
        """Ids of the related records that have ``value`` (one, or a list for an x2many field)."""
        comodel, path, object_key = self.lookup
        many = field.type in X2MANY
        if value is None:
            return [Command.clear()] if many else False
        items = value if many else [value]
        if many and not isinstance(value, list):
            raise InputError(model.env._("the key '%(key)s' must be a list", key=self.name), self.line_id)
        ids = [self._find(model.env[comodel], path, _identifier_in(item, object_key)) for item in items]
        return [Command.set(ids)] if many else ids[0]

    def _find(self, related, path, value):
        if isinstance(value, (dict, list)) or value is None or isinstance(value, bool):
            raise InputError(related.env._("the key '%(key)s' must name a %(model)s by its %(field)s",
                                           key=self.name, model=related._description, field=path), self.line_id)
        found = related.search([(path, '=', value)], limit=2)
        if len(found) != 1:
            raise InputError(related.env._("the key '%(key)s': %(count)s %(model)s records have %(field)s = %(value)s",
                                           key=self.name, count=len(found), model=related._description, field=path,
                                           value=value), self.line_id)
        return found.id

    def _converted(self, model, field, value):
        """The ORM value of a JSON ``value`` for ``field``; InputError naming the expected type."""
        if value is None:
            return [Command.clear()] if field.type in X2MANY else False
        try:
            converted = _CONVERTERS.get(field.type, _unsupported)(model, field, value)
        except (TypeError, ValueError) as error:
            raise InputError(model.env._("the key '%(key)s' must be %(expected)s", key=self.name,
                                         expected=error.args[0] if error.args else ''), self.line_id) from None
        return converted

    def filter_value(self, model, text):
        """A query parameter's text as a value of the filtered field."""
        field = self.filter_field
        try:
            if field.type in ('integer', 'many2one', 'one2many', 'many2many'):
                return int(text)
            if field.type in ('float', 'monetary'):
                return float(text)
            if field.type == 'boolean':
                return {'true': True, '1': True, 'false': False, '0': False}[text.lower()]
            if field.type == 'date':
                return datetime.date.fromisoformat(text).isoformat()
            if field.type == 'datetime':
                return _utc(datetime.datetime.fromisoformat(text.replace('Z', '+00:00')))
        except (ValueError, KeyError):
            raise InputError(model.env._("the filter '%(key)s' must be %(expected)s", key=self.name,
                                         expected=_expected(model.env, field)), self.line_id) from None
        return text


def _identifier_in(item, object_key):
    """A related record's identifier: the item itself, or its key in the sub-mapping's object."""
    if isinstance(item, dict) and object_key:
        for part in object_key.split('.'):
            item = item.get(part) if isinstance(item, dict) else None
    return item


def _json_kind(env, value):
    return {list: env._("an array"), str: env._("a string"), bool: env._("a boolean"), int: env._("a number"),
            float: env._("a number")}.get(type(value), env._("null"))


def _expected(env, field):
    return {
        'char': env._("a string"), 'text': env._("a string"), 'html': env._("a string"),
        'integer': env._("a whole number"), 'float': env._("a number"), 'monetary': env._("a number"),
        'boolean': env._("true or false"),
        'date': env._("a date (YYYY-MM-DD)"), 'datetime': env._("a date and time (ISO 8601)"),
        'many2one': env._("a record id"), 'one2many': env._("a list of record ids"),
        'many2many': env._("a list of record ids"),
        'binary': env._("base64 text"),
    }.get(field.type, env._("a value of type %(type)s", type=field.type))


def _utc(moment):
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return moment


def _fail(model, field):
    raise ValueError(_expected(model.env, field))


def _text(model, field, value):
    return value if isinstance(value, str) else _fail(model, field)


def _selection(model, field, value):
    allowed = [key for key, _label in field._description_selection(model.env)]
    if value not in allowed:
        raise ValueError(model.env._("one of %(values)s", values=', '.join(map(str, allowed))))
    return value


def _integer(model, field, value):
    return value if isinstance(value, int) and not isinstance(value, bool) else _fail(model, field)


def _number(model, field, value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else _fail(model, field)


def _boolean(model, field, value):
    return value if isinstance(value, bool) else _fail(model, field)


def _date(model, field, value):
    try:
        return datetime.date.fromisoformat(_text(model, field, value))
    except ValueError:
        _fail(model, field)


def _datetime(model, field, value):
    try:
        return _utc(datetime.datetime.fromisoformat(_text(model, field, value).replace('Z', '+00:00')))
    except ValueError:
        _fail(model, field)


def _visible_ids(model, field, ids):
    """The ids, if each is a record the inbound user can see."""
    if not all(isinstance(record_id, int) and not isinstance(record_id, bool) for record_id in ids):
        _fail(model, field)
    related = model.env[field.comodel_name].with_context(active_test=False)
    if len(related.search([('id', 'in', ids)])) != len(set(ids)):
        _fail(model, field)
    return ids


def _many2one(model, field, value):
    return _visible_ids(model, field, [value])[0]


def _x2many(model, field, value):
    return [Command.set(_visible_ids(model, field, value if isinstance(value, list) else _fail(model, field)))]


def _binary(model, field, value):
    try:
        base64.b64decode(_text(model, field, value), validate=True)
    except binascii.Error:
        _fail(model, field)
    return value


def _json(model, field, value):
    return value


def _unsupported(model, field, value):
    _fail(model, field)


_CONVERTERS = {
    'char': _text, 'text': _text, 'html': _text, 'selection': _selection,
    'integer': _integer, 'float': _number, 'monetary': _number, 'boolean': _boolean,
    'date': _date, 'datetime': _datetime,
    'many2one': _many2one, 'one2many': _x2many, 'many2many': _x2many,
    'binary': _binary, 'json': _json,
}
