"""What callers of the inbound endpoints are given: an OpenAPI 3.1 document and curl examples, both
read from the configs (endpoint, methods, auth, mapping), so they never disagree with what is served."""
import json
import shlex

from ..shared import auth
from ..shared.payload import X2MANY, resolve_path
from .front_door import API_PREFIX, MAX_LIMIT, allowed_methods

ERROR_SCHEMA = {
    'type': 'object',
    'required': ['error', 'status_code'],
    'properties': {
        'error': {'type': 'string'},
        'status_code': {'type': 'integer'},
        'line_id': {'type': ['integer', 'null'], 'description': 'The mapping line the error is about.'},
    },
}
ERRORS = {
    '400': 'Malformed JSON, wrong value types, unknown keys or values refused.',
    '401': 'Missing or wrong credentials or signature (see WWW-Authenticate).',
    '403': "The endpoint's user may not do this.",
    '404': 'No such endpoint or record (or outside the endpoint\'s domain).',
    '405': 'Method not allowed (see Allow).',
    '413': 'Body too large.',
    '415': 'The body is not JSON.',
    '429': 'Too many requests (see Retry-After).',
}
_SAMPLES = {'string': 'text', 'integer': 1, 'number': 1.5, 'boolean': True, 'array': [], 'object': {}}


def document(configs, base_url):
    """The OpenAPI 3.1 document of ``configs`` (active inbound configs, read as superuser)."""
    doc = {
        'openapi': '3.1.0',
        'info': {'title': 'Odoo BJ API endpoints', 'version': '1'},
        'servers': [{'url': f"{base_url}{API_PREFIX}"}],
        'paths': {},
        'components': {'schemas': {'Error': ERROR_SCHEMA}, 'securitySchemes': {}},
    }
    for config in configs.sorted('endpoint'):
        _describe(doc, config)
    return doc


def _describe(doc, config):
    name = _schema_name(config.endpoint)
    doc['components']['schemas'][name] = record_schema(config)
    security = _security(doc, config)
    ref = {'$ref': f'#/components/schemas/{name}'}
    errors = {code: {'description': text, 'content': {'application/json': {'schema': {
        '$ref': '#/components/schemas/Error'}}}} for code, text in ERRORS.items()}
    body = {'required': True, 'content': {'application/json': {'schema': ref}}}
    one = {'description': 'The record, as mapped.', 'content': {'application/json': {'schema': ref}}}
    operations = {
        ('collection', 'GET'): {
            'summary': f'List {config.name}',
            'parameters': _list_parameters(config),
            'responses': {'200': {'description': 'A page of records.', 'content': {'application/json': {'schema': {
                'type': 'object', 'properties': {'items': {'type': 'array', 'items': ref},
                                                 'total': {'type': 'integer'}, 'limit': {'type': 'integer'},
                                                 'offset': {'type': 'integer'}}}}}}}},
        ('collection', 'POST'): {
            'summary': f'Create a record ({config.name})',
            'parameters': [{'name': 'Idempotency-Key', 'in': 'header', 'schema': {'type': 'string'},
                            'description': 'A repeat within 24 hours returns the first answer and creates nothing.'}],
            'requestBody': body, 'responses': {'201': one}},
        ('item', 'GET'): {'summary': f'Read one record ({config.name})', 'responses': {'200': one}},
        ('item', 'PUT'): {'summary': f'Update the keys sent ({config.name})', 'requestBody': body,
                          'responses': {'200': one}},
        ('item', 'PATCH'): {'summary': f'Update the keys sent ({config.name})', 'requestBody': body,
                            'responses': {'200': one}},
        ('item', 'DELETE'): {'summary': f'Delete the record ({config.name})',
                             'responses': {'204': {'description': 'Deleted.'}}},
    }
    identifier = next((line for line in config.line_ids if line.is_identifier), None)
    id_parameter = {'name': 'id', 'in': 'path', 'required': True, 'schema': {'type': 'string'},
                    'description': f"The record's {identifier.api_key}" if identifier else "The record's Odoo id"}
    for kind, path in (('collection', f"/{config.endpoint}"), ('item', f"/{config.endpoint}/{{id}}")):
        methods = allowed_methods(set(config.http_method_ids.mapped('name')), item=kind == 'item')
        if not methods:
            continue
        item = doc['paths'][path] = {'parameters': [id_parameter]} if kind == 'item' else {}
        for method in methods:
            operation = dict(operations[(kind, method)])
            operation['operationId'] = f"{method.lower()}_{config.endpoint}_{kind}".replace('-', '_')
            operation['responses'] = {**operation['responses'], **errors}
            if security:
                operation['security'] = security
            if config.sign_requests:
                operation['description'] = ('Signed with Standard Webhooks: webhook-id, webhook-timestamp and '
                                            'webhook-signature headers (HMAC-SHA256), at most 5 minutes old.')
            item[method.lower()] = operation


def _schema_name(endpoint):
    return ''.join(part.capitalize() for part in endpoint.replace('-', '_').split('_')) or 'Record'


def _security(doc, config):
    """The config's security requirement, its schemes added to the document (as its auth type gives them)."""
    credentials = auth.from_config(config.sudo())
    schemes, requirement = credentials.openapi_security(f"{_schema_name(config.endpoint)}Auth")
    doc['components']['securitySchemes'].update(schemes)
    return requirement


def _list_parameters(config):
    parameters = [
        {'name': 'limit', 'in': 'query', 'schema': {'type': 'integer', 'minimum': 1, 'maximum': MAX_LIMIT,
                                                    'default': config.page_size}},
        {'name': 'offset', 'in': 'query', 'schema': {'type': 'integer', 'minimum': 0, 'default': 0}},
    ]
    reverse = config._compiled_reverse_mapping()
    for key in reverse.keys.values():
        if key.filter_path:
            parameters.append({'name': key.name, 'in': 'query', 'required': False,
                               'description': 'Records whose value is this one (repeat it for any of several).',
                               'schema': {'type': 'string'}})
    return parameters


def record_schema(config):
    """The JSON schema of a record as the endpoint gives and takes it: one property per key, nested
    for dotted keys; read-only keys are marked so."""
    model = config.env[config.model_name]
    reverse = config._compiled_reverse_mapping()
    schema = {'type': 'object', 'additionalProperties': False, 'properties': {}}
    for line in config.line_ids.sorted(lambda line: (line.sequence, line.id)):
        key = reverse.keys[line.api_key.strip()]
        target = schema
        for part in key.path[:-1]:
            target = target['properties'].setdefault(
                part, {'type': 'object', 'additionalProperties': False, 'properties': {}})
        property_schema = _value_schema(model, line, key)
        if not (key.field or key.script):
            property_schema['readOnly'] = True
        target['properties'][key.path[-1]] = property_schema
    return schema


def _value_schema(model, line, key):
    if line.value_type == 'constant':
        return {'const': key.constant}
    if line.value_type == 'python':
        return {}
    field = resolve_path(model, line.field_path.strip())[-1]
    if key.lookup:
        scalar = {'type': ['string', 'integer'], 'description': f"The {key.lookup[1]} of a {key.lookup[0]}"}
        return {'type': 'array', 'items': scalar} if field.type in X2MANY else {**scalar, 'type': ['string', 'integer', 'null']}
    json_type, extra = {
        'char': ('string', {}), 'text': ('string', {}), 'html': ('string', {}), 'selection': ('string', {}),
        'integer': ('integer', {}), 'float': ('number', {}), 'monetary': ('number', {}),
        'boolean': ('boolean', {}), 'date': ('string', {'format': 'date'}),
        'datetime': ('string', {'format': 'date-time'}), 'many2one': ('integer', {}),
        'binary': ('string', {'contentEncoding': 'base64'}),
    }.get(field.type, (None, {}))
    if field.type in X2MANY:
        return {'type': 'array', 'items': {'type': 'integer'}}
    if field.type == 'selection':
        extra = {'enum': [value for value, _label in field._description_selection(model.env)]}
    if json_type is None:
        return {}
    nullable = [json_type, 'null'] if json_type != 'boolean' else json_type
    return {'type': nullable, **extra}


def sample(config):
    """A request body with a plausible value for each writable key."""
    body = {}
    for name, property_schema in record_schema(config)['properties'].items():
        value = _sample_value(property_schema)
        if value is not None:
            body[name] = value
    return body


def _sample_value(property_schema):
    if property_schema.get('readOnly') or 'const' in property_schema:
        return None
    if 'enum' in property_schema:
        return property_schema['enum'][0] if property_schema['enum'] else None
    if property_schema.get('type') == 'object':
        nested = {name: _sample_value(sub) for name, sub in property_schema['properties'].items()}
        return {name: value for name, value in nested.items() if value is not None} or None
    kinds = property_schema.get('type') or 'string'
    kind = kinds[0] if isinstance(kinds, list) else kinds
    if property_schema.get('format') == 'date':
        return '2026-01-31'
    if property_schema.get('format') == 'date-time':
        return '2026-01-31T09:30:00Z'
    return _SAMPLES.get(kind, 'text')


def curl_examples(config, base_url):
    """One curl command per allowed method; credentials are placeholders, never the config's own."""
    url = f"{base_url}{API_PREFIX}/{config.endpoint}"
    credentials, query_key = auth.from_config(config.sudo()).curl_arguments()
    body = json.dumps(sample(config), ensure_ascii=False)
    commands = []
    for item in (False, True):
        target = f"{url}/ID" if item else url
        for method in allowed_methods(set(config.http_method_ids.mapped('name')), item):
            words = ['curl', '-X', method, *credentials]
            if method in ('POST', 'PUT', 'PATCH'):
                words += ['-H', 'Content-Type: application/json', '-d', body]
            words.append(_with_query(target, query_key, 'limit=10' if method == 'GET' and not item else ''))
            commands.append(' '.join(shlex.quote(word) for word in words))
    if config.sign_requests:
        commands.append("# Signed endpoint: add webhook-id, webhook-timestamp and webhook-signature headers "
                        "(Standard Webhooks).")
    return '\n'.join(commands)


def _with_query(url, key_part, extra):
    query = '&'.join(part for part in (key_part, extra) if part)
    return f"{url}?{query}" if query else url
