"""The one place that turns records into JSON payloads, following a config's mapping lines."""
import ast
import datetime
import decimal
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from odoo.models import BaseModel

from . import labels
from .sandbox import CompiledScript, ScriptError, script_context

if TYPE_CHECKING:
    from odoo.api import Environment
    from odoo.fields import Field

MAX_SUB_MAPPING_DEPTH = 5
X2MANY = ('one2many', 'many2many')


class MappingError(Exception):
    """The mapping itself is wrong (unknown field, bad key, loop): a configuration error."""


def line_label(config: BaseModel, line: BaseModel) -> str:
    return labels.line_label(config.name, line.api_key)


def resolve_path(model: BaseModel, path) -> 'list[Field]':
    """Return the chain of fields that ``path`` (``partner_id.country_id.code``) walks.

    Raises MappingError naming the first missing or non-relational segment.
    """
    if not path or not path.strip():
        raise MappingError(model.env._("no field path"))
    chain = []
    for position, name in enumerate(path.strip().split('.')):
        field = model._fields.get(name)
        if field is None:
            raise MappingError(model.env._(
                "field '%(field)s' does not exist on model '%(model)s'", field=name, model=model._name))
        chain.append(field)
        if position < len(path.split('.')) - 1:
            if not field.relational:
                raise MappingError(model.env._(
                    "'%(field)s' on '%(model)s' is not relational, so '%(path)s' cannot go through it",
                    field=name, model=model._name, path=path))
            model = model.env[field.comodel_name]
    return chain


def key_paths_conflict(env: 'Environment', keys: Iterable[str]) -> str | None:
    """Return a message if one key is the parent object of another (``a`` and ``a.b``), else None."""
    seen = set()
    for key in sorted(keys):
        parts = tuple(key.split('.'))
        if parts in seen:
            return env._("the key '%(key)s' appears twice", key=key)
        for size in range(1, len(parts)):
            if parts[:size] in seen:
                return env._("'%(parent)s' is a value, so '%(key)s' cannot nest under it",
                             parent='.'.join(parts[:size]), key=key)
        seen.add(parts)
    return None


# Names through which a script reaches records or the database other than as record.<field>.
_OPEN_NAMES = frozenset({'records', 'model', 'env', 'self'})


def fields_read(config: BaseModel) -> set[str] | None:
    """The names of the stored fields of the config's model its mapping reads, or None when it may read
    others: a script reaching records in another way than ``record.<field>``, a non-stored field
    (its value follows fields the mapping does not name)."""
    model = config.env[config.model_name]
    names = set()
    if (config.python_script or '').strip():
        if _script_fields(config.python_script, payload_script=True) is None:
            return None
    for line in config.line_ids:
        if line.value_type in ('plain', 'relational') and line.field_path:
            names.add(line.field_path.strip().split('.')[0])
        elif line.value_type == 'python':
            read = _script_fields(line.python_code or '')
            if read is None:
                return None
            names |= read
    if any(name not in model._fields or not model._fields[name].store for name in names):
        return None
    return names


def _script_fields(code, payload_script=False):
    """Fields a script reads as ``record.<field>``; None when it may read anything else."""
    try:
        tree = ast.parse(code.strip() or 'None')
    except SyntaxError:
        return None
    names, record_uses = set(), 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and (node.id in _OPEN_NAMES or (payload_script and node.id == 'record')):
            return None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == 'record':
            names.add(node.attr)
            record_uses += 1
    bare_uses = sum(1 for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == 'record')
    return names if bare_uses == record_uses else None


def field_value(field: 'Field', value: object) -> object:
    """JSON-safe value of one field as Odoo returns it (docs/reference.md, "Values")."""
    kind = field.type
    if kind == 'boolean':
        return bool(value)
    if kind in ('integer', 'float', 'monetary'):
        return value or 0
    if kind == 'many2one':
        return value.id or None
    if kind in X2MANY:
        return value.ids
    if kind == 'reference':
        return f"{value._name},{value.id}" if value else None
    if kind == 'binary':
        return value.decode() if isinstance(value, bytes) else (value or None)
    if kind == 'datetime':
        return value.replace(tzinfo=datetime.timezone.utc).isoformat() if value else None
    if kind == 'date':
        return value.isoformat() if value else None
    return None if value is False else value


def json_default(value: object) -> object:
    """``json.dumps`` fallback for what scripts may return."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, BaseModel):
        return value.ids
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json_text(body: object) -> str:
    return json.dumps(body, ensure_ascii=False, default=json_default)


def json_safe(value: object) -> object:
    """Round-trip through JSON so the payload holds plain values only."""
    return json.loads(to_json_text(value))


def script_result(value: object, where: str) -> object:
    """A script's value as plain JSON values; ScriptError naming ``where`` if it cannot be sent as JSON."""
    try:
        return json_safe(value)
    except (TypeError, ValueError) as error:
        raise ScriptError(where, f"the result cannot be sent as JSON: {error}") from None


class Mapping:
    """A config's mapping lines compiled once, applied to many records. It keeps no record or
    environment: the config caches it across transactions (``_compiled_mapping``)."""

    def __init__(self, config: BaseModel, depth: int = 0) -> None:
        if depth > MAX_SUB_MAPPING_DEPTH:
            raise MappingError(config.env._(
                'BJ API config "%(config)s": sub-mappings nest deeper than %(depth)s levels (a loop?)',
                config=config.name, depth=MAX_SUB_MAPPING_DEPTH))
        model = config.env[config.model_id.model]
        lines = config.line_ids.sorted(lambda line: (line.sequence, line.id))
        conflict = key_paths_conflict(config.env, [line.api_key for line in lines])
        if conflict:
            raise MappingError(f'{labels.config_label(config.name)}: {conflict}')
        self.steps = [_Step(config, line, model, depth) for line in lines]

    def stored_fields(self) -> list[str]:
        """Names of the record's stored fields the mapping reads first: fetched with the search that
        finds the records, they cost no query of their own."""
        return sorted({step.chain[0].name for step in self.steps
                       if step.chain and step.chain[0].store and step.chain[0].name != 'id'})

    def build(self, record: BaseModel, remote_id: str | None = None) -> dict:
        """Payload object of one record; ScriptError if a python line fails."""
        payload = {}
        for step in self.steps:
            _place(payload, step.key_path, step.value(record, payload, remote_id))
        return payload


class _Step:
    def __init__(self, config, line, model, depth):
        self.where = line_label(config, line)
        self.key_path = line.api_key.strip().split('.')
        self.kind = line.value_type
        self.chain = self.sub_mapping = self.script = self.constant = None
        try:
            if self.kind in ('plain', 'relational'):
                self.chain = resolve_path(model, line.field_path)
                if self.kind == 'relational' and line.mapping_config_id:
                    last = self.chain[-1]
                    if not last.relational:
                        raise MappingError(config.env._(
                            "'%(path)s' is not a relational field, it cannot use a sub-mapping",
                            path=line.field_path))
                    if line.mapping_config_id.model_id.model != last.comodel_name:
                        raise MappingError(config.env._(
                            "the sub-mapping \"%(sub)s\" is for '%(model)s', not '%(expected)s'",
                            sub=line.mapping_config_id.name, model=line.mapping_config_id.model_id.model,
                            expected=last.comodel_name))
                    self.sub_mapping = Mapping(line.mapping_config_id, depth + 1)
            elif self.kind == 'python':
                self.script = CompiledScript(line.python_code, self.where)
            else:
                self.constant = parse_constant(line.constant_value)
        except (MappingError, ScriptError) as error:
            raise MappingError(f"{self.where}: {error}") from None

    def value(self, record, payload, remote_id=None):
        if self.script:
            context = script_context(record.env, record, payload, remote_id)
            return script_result(self.script.run(context), self.where)
        if self.chain:
            return self._read(record)
        return self.constant

    def _read(self, record):
        target, many = record, False
        for field in self.chain[:-1]:
            many = many or field.type in X2MANY
            target = target.mapped(field.name)
        last = self.chain[-1]
        if self.sub_mapping:
            related = target.mapped(last.name)
            if many or last.type in X2MANY:
                return [self.sub_mapping.build(item) for item in related]
            return self.sub_mapping.build(related) if related else None
        if many:
            return [field_value(last, item[last.name]) for item in target]
        return field_value(last, target[last.name]) if target else None


def parse_constant(text) -> object:
    """A constant is a JSON literal when it parses as one, otherwise plain text."""
    if text is None or text is False:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _place(payload, key_path, value):
    target = payload
    for part in key_path[:-1]:
        target = target.setdefault(part, {})
    target[key_path[-1]] = value
