{
    'name': 'BJ API',
    'summary': 'Push Odoo records to external REST APIs: field mapping, auth, retries, logs',
    'version': '1.2.0',
    'category': 'Technical',
    'license': 'LGPL-3',
    'author': 'BJ API',
    'depends': ['base', 'web', 'base_automation', 'mail'],
    'external_dependencies': {'python': ['requests', 'urllib3']},
    'data': [
        'security/ir.model.access.csv',
        'data/bj_http_method_data.xml',
        'views/bj_api_log_views.xml',
        'views/bj_api_sync_job_views.xml',
        'views/bj_api_sync_link_views.xml',
        'views/bj_api_sync_config_views.xml',
        'views/bj_http_method_views.xml',
        'views/bj_api_sync_trigger_wizard_views.xml',
        'views/bj_api_sync_preview_wizard_views.xml',
        'views/bj_api_menus.xml',
        'data/ir_cron_data.xml',
    ],
    'demo': [
        'demo/bj_api_sync_demo.xml',
    ],
    'assets': {
        'web.assets_backend': [
            'bj_api_sync/static/src/fields/*',
        ],
        # Loaded with the graph and pivot views (lazy), which the patch extends.
        'web.assets_backend_lazy': [
            'bj_api_sync/static/src/views/*.js',
        ],
        'web.assets_tests': [
            'bj_api_sync/static/tests/tours/*.js',
        ],
    },
}
