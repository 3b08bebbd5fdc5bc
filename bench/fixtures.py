"""The benchmarks' data: partners, API configurations, automation rules, Odoo's webhook action,
the inbound endpoint and its user.

Everything is created in the bench database, named "Bench …", and found again on a
rerun with ``bench/run --keep-db`` (the partners take a while to create).
"""
# pylint: disable=print-used,invalid-commit  # a command-line benchmark: it prints its tables and commits its data
from odoo.fields import Command

PREFIX = 'bench:'   # res.partner.ref of the synced people
COMPANIES = 100
TAGS = 10
CREATE_BATCH = 2000

# The 8 mapping lines of the benchmarks: each kind of value the engine builds.
LINES = [
    {'api_key': 'id', 'field_path': 'id', 'is_identifier': True},                      # plain
    {'api_key': 'name', 'field_path': 'name'},                                            # plain
    {'api_key': 'email', 'field_path': 'email'},                                          # plain
    {'api_key': 'updated_at', 'field_path': 'write_date'},                                # plain, datetime
    {'api_key': 'company.name', 'field_path': 'parent_id.name', 'value_type': 'relational'},  # dotted relational
    {'api_key': 'country', 'field_path': 'country_id', 'value_type': 'relational'},     # sub-mapping (many2one)
    {'api_key': 'tag_ids', 'field_path': 'category_id'},                                  # x2many ids
    {'api_key': 'email_domain', 'value_type': 'python',                                   # python value
     'python_code': "(record.email or '').partition('@')[2] or None"},
]
COUNTRY_LINES = [{'api_key': 'code', 'field_path': 'code'}, {'api_key': 'name', 'field_path': 'name'}]
# What Odoo's own webhook sends of the same records (it adds _id, _model and _action).
WEBHOOK_FIELDS = ['name', 'email', 'write_date', 'parent_id', 'country_id', 'category_id']

# The inbound benchmark's endpoint: plain lines only, so that a GET reads what JSON-RPC's read does.
INBOUND_ENDPOINT = 'partners'
INBOUND_LOGIN = 'bench_inbound'
INBOUND_PASSWORD = 'bench-INBOUND-pa55word'
INBOUND_LINES = [
    {'api_key': 'ref', 'field_path': 'ref', 'is_identifier': True},
    {'api_key': 'name', 'field_path': 'name'},
    {'api_key': 'email', 'field_path': 'email'},
    {'api_key': 'phone', 'field_path': 'phone'},
    {'api_key': 'city', 'field_path': 'city'},
]
INBOUND_READ_REF = 'bench-inbound:read'   # res.partner.ref of the person both sides read


def partners(env, count, progress=None):
    """The first ``count`` bench people (res.partner with a company, a country and tags), created if missing."""
    Partner = env['res.partner'].with_context(tracking_disable=True)
    existing = Partner.search([('ref', '=like', f'{PREFIX}%')], order='id', limit=count)
    if len(existing) == count:
        return existing
    companies = _companies(env)
    tags = _tags(env)
    countries = env['res.country'].search([], order='id', limit=50)
    for start in range(len(existing), count, CREATE_BATCH):
        if progress:
            progress(f"creating partners {start:,}–{min(start + CREATE_BATCH, count):,} of {count:,}")
        Partner.create([{
            'name': f'Bench Person {index}',
            'ref': f'{PREFIX}{index}',
            'email': f'person{index}@example{index % 37}.com',
            'parent_id': companies[index % len(companies)].id,
            'country_id': countries[index % len(countries)].id,
            'category_id': [Command.set(tags[:index % 4].ids)],
        } for index in range(start, min(start + CREATE_BATCH, count))])
        env.cr.commit()
        env.invalidate_all()
    return Partner.search([('ref', '=like', f'{PREFIX}%')], order='id', limit=count)


def _companies(env):
    Partner = env['res.partner']
    companies = Partner.search([('ref', '=like', 'bench-company:%')], order='id')
    if not companies:
        companies = Partner.create([{'name': f'Bench Company {index}', 'is_company': True,
                                     'ref': f'bench-company:{index}'} for index in range(COMPANIES)])
    return companies


def _tags(env):
    Tag = env['res.partner.category']
    tags = Tag.search([('name', '=like', 'Bench Tag %')], order='id')
    if not tags:
        tags = Tag.create([{'name': f'Bench Tag {index}'} for index in range(TAGS)])
    return tags


def config(env, name, url, page_size=None, queued=False):
    """A res.partner configuration with the 8 benchmark mapping lines, POSTing to ``url``;
    paginated when ``page_size`` is given."""
    countries = env['bj.api.sync.config'].search([('name', '=', 'Bench Country')], limit=1) or \
        env['bj.api.sync.config'].create({
            'name': 'Bench Country',
            'model_id': env['ir.model']._get('res.country').id,
            'url': url,
            'line_ids': [Command.create(line) for line in COUNTRY_LINES],
        })
    lines = [dict(line, mapping_config_id=countries.id) if line['api_key'] == 'country' else line
             for line in LINES]
    return env['bj.api.sync.config'].create({
        'name': f'Bench {name}',
        'model_id': env['ir.model']._get('res.partner').id,
        'url': url,
        'http_method_ids': [Command.set(env.ref('bj_api_sync.http_method_post').ids)],
        'is_paginated': bool(page_size),
        'page_size': page_size or 100,
        'delivery_mode': 'queued' if queued else 'immediate',
        # The queue benchmark measures sending, not the retry schedule.
        'max_retries': 0,
        'line_ids': [Command.create(line) for line in lines],
    })


def inbound_endpoint(env):
    """The inbound ``partners`` endpoint (Basic auth, GET and POST, INBOUND_LINES) run as the internal
    user INBOUND_LOGIN (contact rights, password INBOUND_PASSWORD), and the person it serves; created
    if missing."""
    from odoo.addons.bj_api_sync.compat import USER_GROUPS  # importable once the registry set the addons path
    Users = env['res.users'].with_context(active_test=False)
    user = Users.search([('login', '=', INBOUND_LOGIN)]) or Users.create({
        'name': 'Bench Inbound',
        'login': INBOUND_LOGIN,
        'password': INBOUND_PASSWORD,
        USER_GROUPS: [Command.set([env.ref('base.group_user').id, env.ref('base.group_partner_manager').id])],
    })
    Config = env['bj.api.sync.config']
    config = Config.search([('name', '=', 'Bench Inbound partners')], limit=1) or Config.create({
        'name': 'Bench Inbound partners',
        'request_type': 'in',
        'endpoint': INBOUND_ENDPOINT,
        'model_id': env['ir.model']._get('res.partner').id,
        'http_method_ids': [Command.set([env.ref('bj_api_sync.http_method_get').id,
                                         env.ref('bj_api_sync.http_method_post').id])],
        'inbound_user_id': user.id,
        'auth_type': 'basic',
        'auth_login': INBOUND_LOGIN,
        'auth_password': INBOUND_PASSWORD,
        'line_ids': [Command.create(line) for line in INBOUND_LINES],
    })
    Partner = env['res.partner']
    person = Partner.search([('ref', '=', INBOUND_READ_REF)], limit=1) or Partner.create({
        'name': 'Bench Inbound Person', 'ref': INBOUND_READ_REF, 'email': 'inbound@example.com',
        'phone': '+32 2 555 01 00', 'city': 'Brussels',
    })
    return config, person


def automation(env, config, queued, trigger='on_create'):
    """The rule the configuration form's wizard creates ("on creation" unless ``trigger`` says otherwise,
    watching the fields the mapping reads); it follows the config's delivery mode."""
    config.delivery_mode = 'queued' if queued else 'immediate'
    wizard = env['bj.api.sync.trigger.wizard'].create({
        'config_id': config.id, 'kind': 'automation', 'trigger': trigger})
    return env['base.automation'].browse(wizard.action_create()['res_id'])


def empty_automation(env, config, trigger):
    """A rule doing nothing, with the trigger and the watched fields the wizard would give a rule of
    ``config``: what Odoo's automation rules cost by themselves."""
    wizard = env['bj.api.sync.trigger.wizard'].create({
        'config_id': config.id, 'kind': 'automation', 'trigger': trigger})
    return env['base.automation'].create({
        'name': 'Bench empty rule',
        'model_id': config.model_id.id,
        'trigger': trigger,
        'trigger_field_ids': [Command.set(wizard.trigger_field_ids.ids)],
        'action_server_ids': [Command.create({'name': 'Bench empty action', 'model_id': config.model_id.id,
                                              'state': 'code', 'code': 'pass'})],
    })


def webhook_action(env, url):
    """Odoo's own "Send Webhook Notification" server action on res.partner."""
    return env['ir.actions.server'].create({
        'name': 'Bench Odoo webhook',
        'model_id': env['ir.model']._get('res.partner').id,
        'state': 'webhook',
        'webhook_url': url,
        'webhook_field_ids': [Command.set(env['ir.model.fields'].search([
            ('model', '=', 'res.partner'), ('name', 'in', WEBHOOK_FIELDS)]).ids)],
    })


def webhook_automation(env, url):
    """An "on creation" automation rule running Odoo's webhook action."""
    return env['base.automation'].create({
        'name': 'Bench Odoo webhook',
        'model_id': env['ir.model']._get('res.partner').id,
        'trigger': 'on_create',
        'action_server_ids': [Command.set(webhook_action(env, url).ids)],
    })


# The change capture benchmark's mapping (bench/capture.py): a few plain lines and one dotted path,
# the same for every variant.
CAPTURE_LINES = [
    {'api_key': 'id', 'field_path': 'id', 'is_identifier': True},
    {'api_key': 'name', 'field_path': 'name'},
    {'api_key': 'email', 'field_path': 'email'},
    {'api_key': 'phone', 'field_path': 'phone'},
    {'api_key': 'country', 'field_path': 'country_id.code', 'value_type': 'relational'},
]
# The user guide's hand-written rule: a code action calling the entry point on the rule's record.
GUIDE_RULE_CODE = "config = env['bj.api.sync.config'].browse(%d)\nconfig._make_outbound_http_request(record, config.id)"


def capture_config(env, name, url, queued, native=False):
    """A res.partner configuration with CAPTURE_LINES POSTing each record to ``url``; with ``native``,
    its change capture is on (Sync on create, update and delete, watching what the mapping reads)."""
    return env['bj.api.sync.config'].create({
        'name': f'Bench {name}',
        'model_id': env['ir.model']._get('res.partner').id,
        'url': url,
        'http_method_ids': [Command.set(env.ref('bj_api_sync.http_method_post').ids)],
        'delivery_mode': 'queued' if queued else 'immediate',
        'max_retries': 0,
        'line_ids': [Command.create(line) for line in CAPTURE_LINES],
        'sync_on_create': native, 'sync_on_update': native, 'sync_on_delete': native,
    })


def guide_rule(env, config, trigger='on_create_or_write'):
    """The automation rule the user guide shows, written by hand: any change of a record runs a code
    action calling ``_make_outbound_http_request`` on it (no watched fields)."""
    model = env['ir.model']._get(config.model_name)
    return env['base.automation'].create({
        'name': f'Bench guide rule {config.name}',
        'model_id': model.id,
        'trigger': trigger,
        'action_server_ids': [Command.create({'name': f'Bench guide action {config.name}', 'model_id': model.id,
                                              'state': 'code', 'code': GUIDE_RULE_CODE % config.id})],
    })


def clean(env):
    """Remove what a benchmark created besides the partners: rules, actions, configs, jobs, logs."""
    env['base.automation'].with_context(active_test=False).search([('name', '=like', 'Bench %')]).unlink()
    env['base.automation'].with_context(active_test=False).search([('name', '=like', 'BJ API: Bench %')]).unlink()
    env['ir.actions.server'].search([('name', '=like', 'Bench %')]).unlink()
    env.cr.execute("DELETE FROM bj_api_log")
    env.cr.execute("DELETE FROM bj_api_sync_job")
    configs = env['bj.api.sync.config'].with_context(active_test=False).search([('name', '=like', 'Bench %')])
    configs.filtered(lambda config: config.name != 'Bench Country').unlink()
    configs.exists().unlink()
