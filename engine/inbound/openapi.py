"""What callers of the inbound endpoints are given: an OpenAPI 3.1 document and curl examples, both
read from the configs (endpoint, methods, auth, mapping), so they never disagree with what is served.

The document is exact: a request its schemas allow is taken, one they refuse is refused (400); every
status an operation can answer is listed. Records are described twice: as answered (``<Name>``, built
from the mapping that builds the answers, sub-mappings as objects) and as taken (``<Name>Input`` for a
create or a batch, with its required keys; ``<Name>Update`` for PUT and PATCH), from the reverse mapping
that reads the requests. Texts are in the language of the endpoint's user.
"""
import json
import shlex

from ..shared import auth
from ..shared.payload import X2MANY
from .front_door import API_PREFIX, MAX_BATCH, MAX_KEY_LENGTH, MAX_LIMIT, MAX_OFFSET, allowed_methods
from .reverse import IDENTIFIER_PATTERN, INTEGER_RANGE, TEXT_PATTERN, value_schema

ERROR_SCHEMA = {
    'type': 'object',
    'additionalProperties': False,
    'required': ['error', 'status_code', 'line_id'],
    'properties': {
        'error': {'type': 'string'},
        'status_code': {'type': 'integer'},
        'line_id': {'type': ['integer', 'null']},
    },
}
_SAMPLES = {'string': 'text', 'integer': 1, 'number': 1.5, 'boolean': True, 'array': [], 'object': {}}


def document(configs, base_url):
    """The OpenAPI 3.1 document of ``configs`` (active inbound configs, read as superuser); the title
    in the language of ``configs``' environment, each endpoint in its user's."""
    doc = {
        'openapi': '3.1.0',
        'info': {'title': configs.env._("Odoo BJ API endpoints"), 'version': '1'},
        'servers': [{'url': f"{base_url}{API_PREFIX}"}],
        'paths': {},
        'components': {'schemas': {'Error': ERROR_SCHEMA}, 'securitySchemes': {}},
    }
    for config in configs.sorted('endpoint'):
        _Endpoint(config).describe(doc)
    return doc


class _Endpoint:
    """One inbound config as the document describes it."""

    def __init__(self, config):
        user = config.inbound_user_id
        self.env = config.env(user=user.id or None, context={**config.env.context, 'lang': user.lang or 'en_US'})
        self.config = config.with_env(self.env)
        self.model = self.env[config.model_name]
        self.reverse = config._compiled_reverse_mapping()
        self.mapping = config._compiled_mapping()
        self.name = _schema_name(config.endpoint)
        self.methods = set(config.http_method_ids.mapped('name'))

    def describe(self, doc):
        schemas = doc['components']['schemas']
        schemas[self.name] = response_schema(self.mapping, self.env)
        schemas[f'{self.name}Input'] = input_schema(self.reverse, self.model, create=True)
        schemas[f'{self.name}Update'] = input_schema(self.reverse, self.model, create=False)
        security = self._security(doc)
        for kind, path in (('collection', f"/{self.config.endpoint}"), ('item', f"/{self.config.endpoint}/{{id}}")):
            methods = allowed_methods(self.methods, kind == 'item', self.reverse.upserts)
            if not methods:
                continue
            item = doc['paths'][path] = {'parameters': [self._id_parameter()]} if kind == 'item' else {}
            for method in methods:
                operation = self._operation(kind, method)
                operation['operationId'] = self._operation_id(method, kind)
                operation['responses'].update(self._errors(kind, method))
                if security:
                    operation['security'] = security
                if self.config.sign_requests:
                    operation['description'] = ' '.join(filter(None, (operation.get('description'), self.env._(
                        "Signed with Standard Webhooks: webhook-id, webhook-timestamp and webhook-signature "
                        "headers (HMAC-SHA256), at most 5 minutes old."))))
                item[method.lower()] = operation

    def _ref(self, suffix=''):
        return {'$ref': f'#/components/schemas/{self.name}{suffix}'}

    def _operation_id(self, method, kind):
        return f"{method.lower()}_{self.config.endpoint}_{kind}".replace('-', '_')

    def _operation(self, kind, method):
        name = self.config.name
        one = {'description': self.env._("The record, as mapped."),
               'content': {'application/json': {'schema': self._ref()}}}
        if (kind, method) == ('collection', 'GET'):
            page = {'type': 'object', 'additionalProperties': False, 'required': ['items', 'total', 'limit', 'offset'],
                    'properties': {'items': {'type': 'array', 'items': self._ref()}, 'total': {'type': 'integer'},
                                   'limit': {'type': 'integer'}, 'offset': {'type': 'integer'}}}
            return {'summary': self.env._("List %(name)s", name=name), 'parameters': self._list_parameters(),
                    'responses': {'200': {'description': self.env._("A page of records, by id."),
                                          'content': {'application/json': {'schema': page}}}}}
        if (kind, method) == ('collection', 'POST'):
            created = {**one, 'headers': {
                'Location': {'required': True, 'description': self.env._("The record's URL."),
                             'schema': {'type': 'string'}},
                'Idempotent-Replayed': {
                    'description': self.env._("true when this is the first answer to the same key, again."),
                    'schema': {'type': 'string', 'enum': ['true']}}}}
            links = self._links()
            if links:
                created['links'] = links
            key = {'name': 'Idempotency-Key', 'in': 'header', 'required': False,
                   'schema': {'type': 'string', 'maxLength': MAX_KEY_LENGTH, 'pattern': TEXT_PATTERN},
                   'description': self.env._("A repeat within 24 hours answers the first answer again and creates "
                                             "nothing; the key with another body is refused (422).")}
            return {'summary': self.env._("Create a record (%(name)s)", name=name), 'parameters': [key],
                    'requestBody': self._body(self._ref('Input')), 'responses': {'201': created}}
        if (kind, method) == ('collection', 'PUT'):
            return {'summary': self.env._("Create or update records by their identifier (%(name)s)", name=name),
                    'description': self.env._("Up to %(count)s objects, each as a create takes it: the record with its "
                                     "identifier is updated with the keys sent, else one is created. Each object is "
                                     "written or refused on its own; the answer holds one result per object, in "
                                     "order.", count=MAX_BATCH),
                    'requestBody': self._body({'type': 'array', 'maxItems': MAX_BATCH, 'items': self._ref('Input')}),
                    'responses': {'200': {'description': self.env._("One result per object."), 'content': {
                        'application/json': {'schema': self._batch_result()}}}}}
        if method == 'GET':
            return {'summary': self.env._("Read one record (%(name)s)", name=name), 'responses': {'200': one}}
        if method in ('PUT', 'PATCH'):
            return {'summary': self.env._("Update the keys sent (%(name)s)", name=name),
                    'requestBody': self._body(self._ref('Update')),
                    'responses': {'200': one}}
        return {'summary': self.env._("Delete the record (%(name)s)", name=name),
                'responses': {'204': {'description': self.env._("Deleted.")}}}

    def _body(self, schema):
        return {'required': True, 'content': {'application/json': {'schema': schema}}}

    def _batch_result(self):
        written = {'type': 'object', 'additionalProperties': False, 'required': ['status', 'status_code', 'record'],
                   'properties': {'status': {'enum': ['created', 'updated']}, 'status_code': {'enum': [200, 201]},
                                  'record': self._ref()}}
        refused = {'type': 'object', 'additionalProperties': False,
                   'required': ['status', 'error', 'status_code', 'line_id'],
                   'properties': {'status': {'const': 'refused'}, **ERROR_SCHEMA['properties']}}
        count = {'type': 'integer', 'minimum': 0}
        return {'type': 'object', 'additionalProperties': False,
                'required': ['items', 'created', 'updated', 'refused'],
                'properties': {'items': {'type': 'array', 'items': {'anyOf': [written, refused]}},
                               'created': count, 'updated': count, 'refused': count}}

    def _links(self):
        """Where a created record can be read, updated and deleted: its item operations, with the
        identifier the answer gives (a JSON pointer into the body)."""
        identifier = self.reverse.identifier
        if identifier is not None and identifier.kind == 'plain':
            path = identifier.path
        else:
            path = next((key.path for key in self.reverse.keys.values()
                         if key.kind == 'plain' and key.filter_path == 'id'), None) if identifier is None else None
        if not path:
            return {}
        pointer = '/'.join(part.replace('~', '~0').replace('/', '~1') for part in path)
        return {f"{method.capitalize()}Created": {'operationId': self._operation_id(method, 'item'),
                                                 'parameters': {'id': f'$response.body#/{pointer}'}}
                for method in allowed_methods(self.methods, True, False)}

    def _errors(self, kind, method):
        texts = {
            '400': self.env._("Malformed JSON, a NUL character, wrong value types, unknown or missing keys, or "
                              "values refused."),
            '401': self.env._("Missing or wrong credentials or signature (see WWW-Authenticate)."),
            '403': self.env._("The endpoint's user may not do this."),
            '404': self.env._("No such record (or outside the endpoint's domain)."),
            '409': self.env._("The identifier is another record's, or several records have it, or the record is "
                              "in use."),
            '413': self.env._("Body too large."),
            '415': self.env._("The body is not JSON."),
            '422': self.env._("The Idempotency-Key was used with another body."),
            '429': self.env._("Too many requests (see Retry-After)."),
            '500': self.env._("An error of the server or of the endpoint's configuration."),
            '503': self.env._("The records kept changing under concurrent requests; try again (see Retry-After)."),
        }
        codes = ['400', '403', '413', '500']
        if self.config.sign_requests or auth.from_config(self.config.sudo()).security_scheme():
            codes.append('401')
        if self.config.rate_limit > 0:
            codes.append('429')
        if kind == 'item':
            codes += ['404', '409']
        if method in ('POST', 'PUT', 'PATCH'):
            codes.append('415')
        if (kind, method) == ('collection', 'POST'):
            codes += ['409', '422']
        if method != 'GET':
            codes.append('503')
        headers = {'401': 'WWW-Authenticate', '429': 'Retry-After', '503': 'Retry-After'}
        errors = {}
        for code in sorted(set(codes)):
            errors[code] = {'description': texts[code], 'content': {'application/json': {'schema': {
                '$ref': '#/components/schemas/Error'}}}}
            if code in headers:
                errors[code]['headers'] = {headers[code]: {'required': True, 'schema': {
                    'type': 'integer' if headers[code] == 'Retry-After' else 'string'}}}
        return errors

    def _security(self, doc):
        """The config's security requirement, its schemes added to the document (as its auth type gives them)."""
        credentials = auth.from_config(self.config.sudo())
        schemes, requirement = credentials.openapi_security(f"{self.name}Auth")
        doc['components']['securitySchemes'].update(schemes)
        return requirement

    def _id_parameter(self):
        identifier = self.reverse.identifier
        if identifier is None:
            schema = {'type': 'integer', 'minimum': 1, 'maximum': INTEGER_RANGE[1]}
        else:
            schema = identifier.filter_schema(self.model)
            if schema.get('type') == 'string':
                schema['pattern'] = IDENTIFIER_PATTERN
        description = self.env._("The record's %(key)s", key=identifier.name) if identifier else \
            self.env._("The record's Odoo id")
        return {'name': 'id', 'in': 'path', 'required': True, 'schema': schema, 'description': description}

    def _list_parameters(self):
        parameters = [
            {'name': 'limit', 'in': 'query', 'schema': {'type': 'integer', 'minimum': 1, 'maximum': MAX_LIMIT,
                                                        'default': self.config.page_size}},
            {'name': 'offset', 'in': 'query', 'schema': {'type': 'integer', 'minimum': 0, 'maximum': MAX_OFFSET,
                                                         'default': 0}},
        ]
        for key in self.reverse.keys.values():
            if key.filter_path:
                parameters.append({
                    'name': key.name, 'in': 'query', 'required': False, 'style': 'form', 'explode': True,
                    'description': self.env._(
                        "Records whose value is one of these (repeat the parameter for several)."),
                    'schema': {'type': 'array', 'items': key.filter_schema(self.model)}})
        return parameters


def _schema_name(endpoint):
    return ''.join(part.capitalize() for part in endpoint.replace('-', '_').split('_')) or 'Record'


def _object():
    return {'type': 'object', 'additionalProperties': False, 'properties': {}, 'required': []}


def _placed(schema, path, value, required):
    """``value`` put at the dotted ``path`` of the object ``schema``, nested objects made on the way."""
    target = schema
    for part in path[:-1]:
        if part not in target['properties']:
            target['properties'][part] = _object()
        if required and part not in target['required']:
            target['required'].append(part)
        target = target['properties'][part]
    target['properties'][path[-1]] = value
    if required:
        target['required'].append(path[-1])


def _without_empty_required(schema):
    if schema.get('type') == 'object' and 'properties' in schema:
        for value in schema['properties'].values():
            _without_empty_required(value)
        if not schema['required']:
            del schema['required']
    return schema


def response_schema(mapping, env):
    """The JSON Schema of a record as ``mapping`` (a ``payload.Mapping``) answers it: every key, always."""
    schema = _object()
    for step in mapping.steps:
        _placed(schema, step.key_path, _step_schema(step, env), required=True)
    return schema


def _step_schema(step, env):
    if step.script:
        return {}
    if not step.chain:
        return {'const': step.constant}
    last = step.chain[-1]
    many = any(field.type in X2MANY for field in step.chain[:-1])
    if step.sub_mapping:
        one = response_schema(step.sub_mapping, env)
        return {'type': 'array', 'items': one} if many or last.type in X2MANY else {'anyOf': [one, {'type': 'null'}]}
    value = _answer_schema(last, env)
    if many:
        return {'type': 'array', 'items': value}
    return value if len(step.chain) == 1 else _nullable(value)


def _answer_schema(field, env):
    """The JSON Schema of a field's value as ``payload.field_value`` answers it."""
    kind = field.type
    if kind == 'boolean':
        return {'type': 'boolean'}
    if kind == 'integer':
        return {'type': 'integer'}
    if kind in ('float', 'monetary'):
        return {'type': 'number'}
    if kind in X2MANY:
        return {'type': 'array', 'items': {'type': 'integer'}}
    if kind in ('char', 'text', 'html', 'reference', 'binary', 'many2one', 'date', 'datetime', 'selection'):
        schema = value_schema(field, env=env)
        schema.pop('pattern', None)
        schema.pop('minimum', None)
        schema.pop('maximum', None)
        return _nullable(schema if kind != 'reference' else {'type': 'string'})
    return {}


def _nullable(schema):
    """``schema``, or null."""
    if 'enum' in schema:
        return schema if None in schema['enum'] else {**schema, 'enum': [*schema['enum'], None]}
    kind = schema.get('type')
    if isinstance(kind, str):
        return {**schema, 'type': [kind, 'null']}
    if isinstance(kind, list) or not schema:
        return schema if not kind or 'null' in kind else {**schema, 'type': [*kind, 'null']}
    return {'anyOf': [schema, {'type': 'null'}]}


def input_schema(reverse, model, create):
    """The JSON Schema of a body the reverse mapping takes: for a create (``create``, its required keys
    required) or an update. Read-only keys are not taken; a constant key only with its value."""
    required = {key.name for key in reverse.required_keys()} if create else set()
    schema = _object()
    for key in reverse.keys.values():
        if key.writes or key.kind == 'constant':
            _placed(schema, key.path, key.input_schema(model), required=key.name in required)
    return _without_empty_required(schema)


def sample(config):
    """A request body with a plausible value for each key a create takes."""
    return _sample_value(input_schema(config._compiled_reverse_mapping(), config.env[config.model_name], True)) or {}


def _sample_value(schema):
    if 'const' in schema:
        return None
    if 'anyOf' in schema:
        return _sample_value(schema['anyOf'][0])
    if 'enum' in schema:
        return next((value for value in schema['enum'] if value is not None), None)
    if schema.get('type') == 'object':
        nested = {name: _sample_value(sub) for name, sub in schema['properties'].items()}
        return {name: value for name, value in nested.items() if value is not None} or None
    kinds = schema.get('type') or 'string'
    kind = kinds[0] if isinstance(kinds, list) else kinds
    if schema.get('format') == 'date':
        return '2026-01-31'
    if schema.get('format') == 'date-time':
        return '2026-01-31T09:30:00Z'
    return _SAMPLES.get(kind, 'text')


def curl_examples(config, base_url):
    """One curl command per allowed method; credentials are placeholders, never the config's own."""
    url = f"{base_url}{API_PREFIX}/{config.endpoint}"
    credentials, query_key = auth.from_config(config.sudo()).curl_arguments()
    one = sample(config)
    upserts = config._compiled_reverse_mapping().upserts
    commands = []
    for item in (False, True):
        target = f"{url}/ID" if item else url
        for method in allowed_methods(set(config.http_method_ids.mapped('name')), item, upserts):
            words = ['curl', '-X', method, *credentials]
            if method in ('POST', 'PUT', 'PATCH'):
                body = [one] if method == 'PUT' and not item else one
                words += ['-H', 'Content-Type: application/json', '-d', json.dumps(body, ensure_ascii=False)]
            words.append(_with_query(target, query_key, 'limit=10' if method == 'GET' and not item else ''))
            commands.append(' '.join(shlex.quote(word) for word in words))
    if config.sign_requests:
        commands.append("# Signed endpoint: add webhook-id, webhook-timestamp and webhook-signature headers "
                        "(Standard Webhooks).")
    return '\n'.join(commands)


def _with_query(url, key_part, extra):
    query = '&'.join(part for part in (key_part, extra) if part)
    return f"{url}?{query}" if query else url
