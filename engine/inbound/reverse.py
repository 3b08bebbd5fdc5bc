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

What each key takes is checked here, before anything reaches the database, and ``input_schema()``
describes the same rules as JSON Schema for the OpenAPI document: a value the schema allows is taken,
one it refuses is refused (400).

The compiled reverse mapping keeps no record or environment (it is cached like ``payload.Mapping``);
each call gets the model in the inbound user's environment, so lookups obey that user's rights.
"""
import base64
import binascii
import collections
import datetime
import math
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from odoo.fields import Command
from odoo.models import MAGIC_COLUMNS, BaseModel

from ..shared.payload import X2MANY, MappingError, line_label, parse_constant, resolve_path
from ..shared.sandbox import CompiledScript, ScriptError, script_context

if TYPE_CHECKING:
    from odoo.api import Environment
    from odoo.fields import Field

RESERVED_QUERY = ('limit', 'offset')
# Odoo's integer fields are PostgreSQL integers (4 bytes).
INTEGER_RANGE = (-2**31, 2**31 - 1)
# The related records a key names by identifier are listed in the OpenAPI document (an enum) up to this many.
ENUM_LIMIT = 500
# No text the database stores may hold a NUL character.
TEXT_PATTERN = '^[^\\u0000]*$'
# An identifier is the last part of its record's URL: not empty, not starting with "/", no control
# character (a URL cannot carry a line break), and no "." or ".." segment (which clients remove from URLs).
IDENTIFIER_PATTERN = '^(?!(.*/)?\\.\\.?(/.*)?$)[^\\u0000-\\u001f\\u007f/][^\\u0000-\\u001f\\u007f]*$'
# Amounts Odoo rounds to a currency stay below this (a larger one cannot be rounded).
MONETARY_LIMIT = 10 ** 15
BASE64_PATTERN = '^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$'
_NEVER_WRITTEN = frozenset(MAGIC_COLUMNS) | {'display_name'}
_DATE = re.compile(r'\d{4}-\d{2}-\d{2}', re.ASCII)
_DATETIME = re.compile(r'(\d{4}-\d{2}-\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))', re.ASCII)
_INTEGER_TEXT = re.compile(r'-?\d+', re.ASCII)
_NUMBER_TEXT = re.compile(r'-?\d+(\.\d+)?([eE][+-]?\d+)?', re.ASCII)
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_CHECK_NOT_NULL = re.compile(r'"?(\w+)"? IS NOT NULL')


class InputError(Exception):
    """What the client sent cannot be taken; the message names the key, ``line_id`` its mapping line."""

    def __init__(self, message: str, line_id: int | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.line_id = line_id
        self.status = status


def writable(field: 'Field') -> bool:
    return (field.name not in _NEVER_WRITTEN and field.type in _CONVERTERS
            and not (field.compute and field.readonly and not field.inverse))


def any_text(value: object, test: Callable[[str], bool]) -> bool:
    """Whether ``test`` holds for a text of the JSON ``value``: a key or a string, at any depth (walked
    without recursion, so that no nesting the JSON parser took can overflow the stack)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if test(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def holds_nul(value: object) -> bool:
    """Whether a text of the JSON ``value`` (a key or a string, at any depth) holds a NUL character, which
    the database cannot store."""
    return any_text(value, lambda text: '\x00' in text)


def usable_identifier(value: object) -> bool:
    """Whether ``value`` can name its record in a URL (see IDENTIFIER_PATTERN)."""
    return not isinstance(value, str) or bool(_IDENTIFIER.fullmatch(value))


class ReverseMapping:
    """The mapping lines of an inbound config, compiled once for reading requests."""

    def __init__(self, config: BaseModel) -> None:
        model = config.env[config.model_name]
        lines = config.line_ids.sorted(lambda line: (line.sequence, line.id))
        required = _required_fields(model)
        self.keys = {key.name: key for key in (_Key(config, line, model, required) for line in lines)}
        self.identifier = next((key for key in self.keys.values() if key.identifier), None)
        # Keys of the objects that hold nested keys (``address`` for ``address.city``).
        self.parents = {key.path[:size] for key in self.keys.values() for size in range(1, len(key.path))}

    @property
    def upserts(self) -> bool:
        """Whether records can be found by what a body gives (a batch upserts by it): the identifier is
        written into one field, not a list."""
        identifier = self.identifier
        return bool(identifier and identifier.field and identifier.writes and identifier.field_type not in X2MANY)

    def required_keys(self) -> list['_Key']:
        """The keys a create must be given: the identifier (when it is written) and those of the fields
        Odoo or a database constraint requires."""
        return [key for key in self.keys.values() if key.required or (key.identifier and key.writes)]

    def values(self, model: BaseModel, data: object, record: BaseModel | None = None) -> dict[str, object]:
        """Field values to create (no ``record``) or to write on ``record`` from the body ``data``."""
        env = model.env
        if not isinstance(data, dict):
            raise InputError(env._("the body must be a JSON object, not %(kind)s", kind=_json_kind(env, data)))
        given = self._flatten(env, data, ())
        if record is None:
            missing = [key for key in self.required_keys() if key.name not in given]
            if missing:
                raise InputError(env._("the key(s) %(keys)s are required", keys=', '.join(
                    f"'{key.name}'" for key in missing)), missing[0].line_id)
        values = {}
        for key in self.keys.values():
            if key.kind == 'constant':
                # A body may repeat a constant (what a GET gave back), not change it.
                if key.name in given and given[key.name] != key.constant:
                    raise InputError(env._("the key '%(key)s' always has the value %(value)s",
                                           key=key.name, value=key.constant), key.line_id)
                if key.field:
                    values[key.field] = key.constant
            elif key.name in given:
                value = given[key.name]
                if value is None and (key.required or key.identifier):
                    raise InputError(env._("the key '%(key)s' cannot be null", key=key.name), key.line_id)
                if key.identifier and key.writes and not usable_identifier(value):
                    raise InputError(env._("the key '%(key)s' is the identifier, the end of the record's URL: it "
                                           "cannot be empty, start with '/', hold a line break or another control "
                                           "character, or a '.' or '..' part", key=key.name), key.line_id)
                values.update(key.read(model, value, data, record))
        return values

    def identifier_value(self, values: dict[str, object]) -> object:
        """The identifier's field value among ``values`` (what ``values()`` gave), or None."""
        identifier = self.identifier
        if identifier is None or not identifier.field or identifier.field not in values:
            return None
        return values[identifier.field]

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
        for key, values in wanted.items():
            if key.lookup:
                key.check_related(model, values)
        return [(key.filter_path, 'in', values) if len(values) > 1 else (key.filter_path, '=', values[0])
                for key, values in wanted.items()]

    def filter_keys(self) -> list[str]:
        return [key.name for key in self.keys.values() if key.filter_path]

    def identify(self, model: BaseModel, text: str) -> list[tuple[str, str, object]] | None:
        """The domain of the record the URL names, or None when no record can have that id."""
        try:
            if self.identifier is None:
                return [('id', '=', _filter_integer(model, model._fields['id'], text))]
            return [(self.identifier.filter_path, '=', self.identifier.filter_value(model, text))]
        except (InputError, ValueError):
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

    def __init__(self, config, line, model, required):
        self.name = line.api_key.strip()
        self.path = tuple(self.name.split('.'))
        self.line_id = line.id
        self.identifier = line.is_identifier
        self.kind = line.value_type
        self.where = line_label(config, line)
        self.field = self.filter_path = self.filter_field = self.script = self.constant = None
        # (comodel, field path, key in a sub-mapping's object): related records found by value
        self.lookup = self.lookup_field = None
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
        # A python line decides itself what its key needs; a constant is never sent.
        self.required = self.kind in ('plain', 'relational') and self.field in required
        self.field_type = model._fields[self.field].type if self.field else None

    @property
    def writes(self):
        """Whether the key's input is written (else the key is read-only)."""
        return bool(self.script or (self.field and self.kind != 'constant'))

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
        if self.lookup:
            self.lookup_field = resolve_path(model.env[self.lookup[0]], self.lookup[1])[-1]

    def read(self, model, value, data, record):  # pylint: disable=method-required-super  # not an Odoo model
        """{field: value} that the key's input ``value`` writes."""
        if self.script:
            if holds_nul(value):
                raise InputError(model.env._("the key '%(key)s' holds a NUL character (\\u0000), which the database "
                                             "cannot store", key=self.name), self.line_id)
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
        if many and not isinstance(value, list):
            raise InputError(model.env._("the key '%(key)s' must be a list", key=self.name), self.line_id)
        if value is None:
            return False
        related = model.env[comodel]
        ids = [self._find(related, path, _identifier_in(item, object_key)) for item in (value if many else [value])]
        return [Command.set(ids)] if many else ids[0]

    def _find(self, related, path, value):
        try:
            value = _CONVERTERS.get(self.lookup_field.type, _unsupported)(related, self.lookup_field, value)
        except (TypeError, ValueError):
            raise InputError(related.env._(
                "the key '%(key)s' must name a %(model)s by its %(field)s (%(expected)s)", key=self.name,
                model=_model_label(related), field=self._lookup_label(),
                expected=_expected(related.env, self.lookup_field)), self.line_id) from None
        found = related.search([(path, '=', value)], limit=2)
        if len(found) != 1:
            self._not_one(related, value, len(found))
        return found.id

    def check_related(self, model, values):
        """InputError unless each of the filter ``values`` names one related record."""
        related = model.env[self.lookup[0]]
        path = self.lookup[1]
        existing = set(related.search([(path, 'in', values)]).mapped(path))
        for value in values:
            if value not in existing:
                self._not_one(related, value, 0)

    def _not_one(self, related, value, count):
        env = related.env
        message = env._("the key '%(key)s': no %(model)s has %(field)s '%(value)s'") if not count else \
            env._("the key '%(key)s': more than one %(model)s has %(field)s '%(value)s'")
        raise InputError(message % {'key': self.name, 'model': _model_label(related), 'field': self._lookup_label(),
                                    'value': value}, self.line_id)

    def _lookup_label(self):
        return self.lookup[2] or self.lookup[1]

    def related_choices(self, model):
        """The identifiers of the related records the key names, when the inbound user can see at most
        ENUM_LIMIT of them (each naming one record); else None."""
        related = model.env[self.lookup[0]]
        found = related.search([(self.lookup[1], '!=', False)], limit=ENUM_LIMIT + 1)
        if len(found) > ENUM_LIMIT:
            return None
        counts = collections.Counter(value for value in found.mapped(self.lookup[1]) if value not in (False, ''))
        return sorted((value for value, count in counts.items() if count == 1), key=str)

    def _converted(self, model, field, value):
        """The ORM value of a JSON ``value`` for ``field``; InputError naming the expected type."""
        if value is None and field.type in _NULLABLE:
            return False
        try:
            return _CONVERTERS[field.type](model, field, value)
        except (TypeError, ValueError) as error:
            raise InputError(model.env._("the key '%(key)s' must be %(expected)s", key=self.name,
                                         expected=error.args[0] if error.args else ''), self.line_id) from None

    def filter_value(self, model, text):
        """A query parameter's text as a value of the filtered field."""
        field = self.filter_field
        try:
            return _FILTER_PARSERS.get(field.type, _filter_text)(model, field, text)
        except (ValueError, KeyError):
            raise InputError(model.env._("the filter '%(key)s' must be %(expected)s", key=self.name,
                                         expected=_expected(model.env, field)), self.line_id) from None

    def input_schema(self, model):
        """The JSON Schema of what the key takes in a body."""
        if self.kind == 'constant':
            return {'const': self.constant}
        if self.kind == 'python':
            return {}
        field = model._fields[self.field]
        if self.lookup:
            scalar = value_schema(self.lookup_field, self.related_choices(model), model.env)
            item = {'anyOf': [scalar, _nested_object(self.lookup[2].split('.'), scalar)]} if self.lookup[2] else scalar
            if field.type in X2MANY:
                return {'type': 'array', 'items': item}
            return {'anyOf': [item, {'type': 'null'}]} if not self.required else item
        schema = value_schema(field, env=model.env)
        if self.identifier and schema.get('type') == 'string':
            schema['pattern'] = IDENTIFIER_PATTERN
        elif field.type in _NULLABLE and not self.required and not self.identifier:
            schema = {'anyOf': [schema, {'type': 'null'}]}
        return schema

    def filter_schema(self, model):
        """The JSON Schema of one value of the key's query parameter."""
        field = self.filter_field
        if field.type in ('many2one', *X2MANY):
            return value_schema(model._fields['id'])
        return value_schema(field, self.related_choices(model) if self.lookup else None, model.env)


def value_schema(field: 'Field', choices: list | None = None, env: 'Environment | None' = None) -> dict:
    """The JSON Schema of one value ``field`` takes (not null): ``choices`` when given, a selection's values
    (read in ``env``'s language), ids as integers."""
    kind = field.type
    if choices is not None:
        return {'enum': choices}
    if kind == 'selection':
        return {'enum': [value for value, _label in field._description_selection(env)]}
    if kind in X2MANY:
        return {'type': 'array', 'items': dict(_INTEGER_SCHEMA)}
    if kind in ('integer', 'many2one') or field.name == 'id':
        return dict(_INTEGER_SCHEMA)
    limit = _number_limit(field, env)
    if limit:
        return {'type': 'number', 'exclusiveMinimum': -limit, 'exclusiveMaximum': limit}
    return dict(_SCHEMAS.get(kind, {}))


def _required_fields(model):
    """The fields a create must be given: required by Odoo without a default, or by a CHECK constraint
    of the model's table (``<column> IS NOT NULL``, e.g. a contact's name)."""
    names = {name for name, field in model._fields.items()
             if field.required and field.default is None and not field.compute and not field.related}
    model.env.cr.execute("""
        SELECT pg_get_constraintdef(constraint_.oid)
          FROM pg_constraint AS constraint_ JOIN pg_class AS table_ ON table_.oid = constraint_.conrelid
         WHERE table_.relname = %s AND constraint_.contype = 'c'""", [model._table])
    for (definition,) in model.env.cr.fetchall():
        names.update(name for name in _CHECK_NOT_NULL.findall(definition) if name in model._fields)
    return names


def _nested_object(path, scalar):
    schema = scalar
    for part in reversed(path):
        schema = {'type': 'object', 'required': [part], 'properties': {part: schema}}
    return schema


def _identifier_in(item, object_key):
    """A related record's identifier: the item itself, or its key in the sub-mapping's object."""
    if isinstance(item, dict) and object_key:
        for part in object_key.split('.'):
            item = item.get(part) if isinstance(item, dict) else None
    return item


def _model_label(records):
    """The model's name in the user's language (``ir.model``'s translated name)."""
    return records.env['ir.model'].sudo()._get(records._name).name or records._name


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


def _fail(model, field):
    raise ValueError(_expected(model.env, field))


def _parse_date(text):
    if not isinstance(text, str) or not _DATE.fullmatch(text):
        raise ValueError(text)
    return datetime.date.fromisoformat(text)


def _parse_datetime(text):
    """A naive UTC datetime of an RFC 3339 date-time (its offset is required)."""
    match = _DATETIME.fullmatch(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(text)
    day, hour, minute, second, fraction, _offset, sign, offset_hours, offset_minutes = match.groups()
    moment = datetime.datetime.combine(datetime.date.fromisoformat(day),
                                       datetime.time(int(hour), int(minute), int(second)))
    if fraction:
        moment = moment.replace(microsecond=int(fraction[1:7].ljust(6, '0')))
    if sign:
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            raise ValueError(text)
        offset = datetime.timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
        try:
            moment = moment - offset if sign == '+' else moment + offset
        except OverflowError:
            raise ValueError(text) from None
    return moment


def _text(model, field, value):
    if isinstance(value, str) and '\x00' in value:
        raise ValueError(model.env._("a string without NUL characters (\\u0000)"))
    return value if isinstance(value, str) else _fail(model, field)


def _selection(model, field, value):
    allowed = [key for key, _label in field._description_selection(model.env)]
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(model.env._("one of %(values)s", values=', '.join(map(str, allowed))))
    return value


def _whole(value):
    """A JSON whole number (``5`` or ``5.0``) as an int, else None."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _integer(model, field, value):
    value = _whole(value)
    if value is None or not INTEGER_RANGE[0] <= value <= INTEGER_RANGE[1]:
        _fail(model, field)
    return value


def _number_limit(field, env):
    """The magnitude a number of ``field`` stays below, or None: what its digits hold (a latitude's (10, 7):
    1000), MONETARY_LIMIT for an amount."""
    if field.type == 'monetary':
        return MONETARY_LIMIT
    digits = field.get_digits(env) if field.type == 'float' else None
    return 10 ** (digits[0] - digits[1]) if digits and digits[0] else None


def _number(model, field, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(model, field)
    limit = _number_limit(field, model.env)
    if limit and not -limit < value < limit:
        raise ValueError(model.env._("a number between -%(limit)s and %(limit)s", limit=limit))
    return value


def _boolean(model, field, value):
    return value if isinstance(value, bool) else _fail(model, field)


def _date(model, field, value):
    try:
        return _parse_date(value)
    except ValueError:
        _fail(model, field)


def _datetime(model, field, value):
    try:
        return _parse_datetime(value)
    except ValueError:
        _fail(model, field)


def _visible_ids(model, field, ids):
    """The ids, if each is a record the inbound user can see."""
    ids = [_whole(record_id) for record_id in ids]
    if None in ids:
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
    if holds_nul(value):
        raise ValueError(model.env._("JSON without NUL characters (\\u0000)"))
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
# The types whose fields can be empty: null empties them. Others (true/false, numbers, lists) cannot.
_NULLABLE = frozenset({'char', 'text', 'html', 'selection', 'date', 'datetime', 'many2one', 'binary', 'json'})
_INTEGER_SCHEMA = {'type': 'integer', 'minimum': INTEGER_RANGE[0], 'maximum': INTEGER_RANGE[1]}
_SCHEMAS = {
    'char': {'type': 'string', 'pattern': TEXT_PATTERN}, 'text': {'type': 'string', 'pattern': TEXT_PATTERN},
    'html': {'type': 'string', 'pattern': TEXT_PATTERN}, 'selection': {'type': 'string'},
    'float': {'type': 'number'}, 'monetary': {'type': 'number'}, 'boolean': {'type': 'boolean'},
    'date': {'type': 'string', 'format': 'date'}, 'datetime': {'type': 'string', 'format': 'date-time'},
    'binary': {'type': 'string', 'contentEncoding': 'base64', 'pattern': BASE64_PATTERN},
}


def _filter_text(model, field, text):
    return text


def _filter_integer(model, field, text):
    if not _INTEGER_TEXT.fullmatch(text) or not INTEGER_RANGE[0] <= int(text) <= INTEGER_RANGE[1]:
        raise ValueError(text)
    return int(text)


def _filter_number(model, field, text):
    limit = _number_limit(field, model.env)
    value = float(text) if _NUMBER_TEXT.fullmatch(text) else math.nan
    if not math.isfinite(value) or (limit and not -limit < value < limit):
        raise ValueError(text)
    return value


def _filter_selection(model, field, text):
    if text not in [value for value, _label in field._description_selection(model.env)]:
        raise ValueError(text)
    return text


_FILTER_PARSERS = {
    'integer': _filter_integer, 'many2one': _filter_integer, 'one2many': _filter_integer,
    'many2many': _filter_integer, 'float': _filter_number, 'monetary': _filter_number,
    'boolean': lambda model, field, text: {'true': True, 'false': False}[text],
    'date': lambda model, field, text: _parse_date(text).isoformat(),
    'datetime': lambda model, field, text: _parse_datetime(text),
    'selection': _filter_selection,
}
