{
    'name': 'BJ API bench: webhooks as OCA queue_job jobs',
    'summary': "The peer of bench/run peers: one queue_job job per webhook delivery. For that benchmark only.",
    'version': '1.0.0',
    'category': 'Hidden',
    'license': 'LGPL-3',
    'author': 'BJ API',
    'depends': ['queue_job'],
}
