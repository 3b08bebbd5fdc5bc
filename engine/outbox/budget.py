"""Working within Odoo's cron time limit.

In production (``--workers``) Odoo's watchdog kills a cron worker whose poll lasts longer than
``limit_time_real_cron`` (by default ``limit_time_real``, 120 s); Odoo then counts the job as
failed and deactivates one that keeps failing. Long work is therefore cut into runs: each stops
starting new requests after ``time_budget()`` and triggers the next run for the rest.
"""
from odoo.tools import config

UNLIMITED_BUDGET = 240  # seconds: the longest run when Odoo sets no cron time limit
MIN_BUDGET = 5          # seconds: a run always gets this long, even under a tight limit


def time_budget(longest_request: float) -> float:
    """Seconds a run may keep starting requests: half the cron time limit, less the longest
    request (connection + read timeout) that may still be in flight when it stops."""
    limit = config['limit_time_real_cron']
    if limit is None or limit < 0:
        limit = config['limit_time_real']
    if not limit:
        return UNLIMITED_BUDGET
    return max(MIN_BUDGET, min(UNLIMITED_BUDGET, limit / 2 - longest_request))
