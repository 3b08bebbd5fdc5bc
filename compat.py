"""Odoo 18.0 and 19.0 from one codebase: each difference the addon meets is named once, here."""
from odoo import models, release, sql_db
from odoo.service import model as service_model
from odoo.tools import safe_eval

try:
    from odoo.tools.constants import PREFETCH_MAX  # 19.0
except ImportError:
    from odoo.models import PREFETCH_MAX  # 18.0

# The groups of a res.users record.
USER_GROUPS = 'group_ids' if release.version_info[0] >= 19 else 'groups_id'

__all__ = ['PREFETCH_MAX', 'USER_GROUPS', 'checked_code', 'group_users', 'integrity_message', 'notify_progress',
           'read_committed', 'unique']


def checked_code(source, allowed_opcodes, mode, filename):
    """``source`` compiled and checked against ``allowed_opcodes`` and forbidden names, as safe_eval()
    does: ``test_expr`` in 18.0, ``compile_codeobj`` then ``assert_valid_codeobj`` in 19.0."""
    if hasattr(safe_eval, 'test_expr'):
        return safe_eval.test_expr(source, allowed_opcodes, mode=mode, filename=filename)
    code = safe_eval.compile_codeobj(source, filename=filename, mode=mode)
    safe_eval.assert_valid_codeobj(allowed_opcodes, code, source)
    return code


def group_users(group):
    """Every user of ``group``, implied membership included (``users`` in 18.0, ``all_user_ids`` in 19.0)."""
    return group.all_user_ids if 'all_user_ids' in group._fields else group.users


def integrity_message(env, error):
    """What Odoo tells a user whose values the database refused (an IntegrityError)."""
    if hasattr(service_model, '_as_validation_error'):  # 18.0
        return service_model._as_validation_error(env, error).args[0]
    model = next((env[cls._name] for cls in env.registry.values() if cls._table == error.diag.table_name),
                 env['base'])
    return model._sql_error_to_message(error)


def notify_progress(env, done, remaining=0):
    """Tell Odoo's cron runner what a run did; nothing outside a cron run. The progress row is written
    as 18.0's ``_notify_progress`` does: it is deprecated in 19.0, whose ``_commit_progress`` would also
    commit the run's transaction."""
    progress_id = env.context.get('ir_cron_progress_id')
    if progress_id:
        env['ir.cron.progress'].sudo().browse(progress_id).write({'done': done, 'remaining': remaining})


def read_committed(cr):
    """Make ``cr``'s new transaction read committed, not Odoo's repeatable read; nothing to do for a test
    cursor, a savepoint of the test's transaction (18.0 asked the registry's test mode, 19.0 has none)."""
    if isinstance(cr, sql_db.Cursor):
        cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")


def unique(definition, message):
    """A unique constraint, declared in a model's class body as ``_<name> = compat.unique(...)``:
    ``models.Constraint`` in 19.0 (which ignores ``_sql_constraints``), an ``_sql_constraints`` entry
    in 18.0. The database constraint is named ``<table>_<name>`` either way."""
    if hasattr(models, 'Constraint'):
        return models.Constraint(definition, message)
    return _SqlConstraint(definition, message)


class _SqlConstraint:
    def __init__(self, definition, message):
        self.definition = definition
        self.message = message

    def __set_name__(self, owner, name):
        owner._sql_constraints = [*owner.__dict__.get('_sql_constraints', []),
                                  (name.lstrip('_'), self.definition, self.message)]
