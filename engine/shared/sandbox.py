"""Evaluation of user-written Python: filter domains, mapping lines, payload scripts.

Everything runs in Odoo's ``safe_eval``. Two conveniences make the user guide's
examples run as written:

* ``datetime`` is :data:`DATETIME`, usable both as the module
  (``datetime.datetime.now()``, ``datetime.timedelta``) and as the class
  (``datetime.now()``);
* import lines of modules the sandbox already provides (``from datetime import
  datetime``) are accepted: they are blanked out and the names they bind are
  added to the context. Any other import is refused with a clear error.
"""
import ast
import base64
import datetime as _datetime
import logging
import re as _re
from typing import TYPE_CHECKING

import psycopg2
from dateutil.relativedelta import relativedelta

from odoo import exceptions, fields
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command
from odoo.tools import safe_eval as odoo_safe_eval
from odoo.tools.safe_eval import _BUILTINS, _SAFE_OPCODES, check_values, safe_eval, wrap_module

from ...compat import checked_code

if TYPE_CHECKING:
    from odoo.api import Environment
    from odoo.models import BaseModel

script_logger = logging.getLogger('odoo.addons.bj_api_sync.script')

# Not a script's failure but the transaction's (as safe_eval() does, they are never wrapped):
# the caller must see them, roll back, and maybe retry.
DATABASE_ERRORS = (psycopg2.Error,)


class DatetimeModuleOrClass:
    """``datetime`` as both the module and its ``datetime`` class.

    Module attributes win (``datetime.date``, ``datetime.time`` are the classes,
    as after ``import datetime``); anything else comes from the class
    (``datetime.now()``, ``datetime.strptime()``), as after
    ``from datetime import datetime``.
    """

    _module = odoo_safe_eval.datetime
    _class = _datetime.datetime

    def __getattr__(self, name: str) -> object:
        if name.startswith('_'):
            raise AttributeError(name)
        try:
            return getattr(self._module, name)
        except AttributeError:
            return getattr(self._class, name)

    def __call__(self, *args: object, **kwargs: object) -> _datetime.datetime:
        return self._class(*args, **kwargs)

    def __instancecheck__(self, instance: object) -> bool:
        return isinstance(instance, self._class)

    def __repr__(self) -> str:
        return "<datetime module and class>"


DATETIME = DatetimeModuleOrClass()

_re_module = wrap_module(_re, [
    'compile', 'escape', 'findall', 'finditer', 'fullmatch', 'match', 'search',
    'split', 'sub', 'subn', 'A', 'ASCII', 'I', 'IGNORECASE', 'M', 'MULTILINE',
    'S', 'DOTALL', 'X', 'VERBOSE',
])
_base64_module = wrap_module(base64, [
    'b64encode', 'b64decode', 'urlsafe_b64encode', 'urlsafe_b64decode',
])
_relativedelta_module = odoo_safe_eval.dateutil.relativedelta

# What an import line may name, and the (already safe) object it binds.
IMPORTABLE = {
    'datetime': odoo_safe_eval.datetime,
    'time': odoo_safe_eval.time,
    'json': odoo_safe_eval.json,
    're': _re_module,
    'base64': _base64_module,
    'dateutil': odoo_safe_eval.dateutil,
    'dateutil.relativedelta': _relativedelta_module,
    'dateutil.parser': odoo_safe_eval.dateutil.parser,
    'dateutil.tz': odoo_safe_eval.dateutil.tz,
    'dateutil.rrule': odoo_safe_eval.dateutil.rrule,
    'odoo.exceptions': wrap_module(exceptions, ['UserError', 'ValidationError']),
    'odoo.fields': wrap_module(fields, ['Command', 'Date', 'Datetime']),
}


class ScriptError(Exception):
    """A user script failed; ``str()`` names where and why, for logs and dialogs."""

    def __init__(self, where: str, message: str, lineno: int | None = None) -> None:
        self.where = where
        self.lineno = lineno
        self.message = message
        line = f" (line {lineno})" if lineno else ""
        super().__init__(f"{where}{line}: {message}")


def time_values() -> dict[str, object]:
    """Names shared by every evaluation context."""
    return {
        'datetime': DATETIME,
        'timedelta': _datetime.timedelta,
        'relativedelta': relativedelta,
        'time': odoo_safe_eval.time,
        'dateutil': odoo_safe_eval.dateutil,
    }


def domain_context(env: 'Environment') -> dict[str, object]:
    """Context of a config's filter domain."""
    return {
        **time_values(),
        'context_today': lambda: fields.Date.context_today(env.user),
        'uid': env.uid,
        'user': env.user,
    }


def eval_domain(env: 'Environment', domain_text, where: str) -> list:
    """Evaluate a domain string; raise ValidationError naming ``where`` if it is not a list."""
    if not (domain_text or '').strip() or domain_text.strip() == '[]':
        return []  # the usual case, which a committing change meets every time: no sandbox for it
    try:
        domain = safe_eval(domain_text or '[]', domain_context(env))
    except Exception as error:
        raise ValidationError(env._(
            "%(config)s: the filter domain cannot be evaluated: %(error)s", config=where, error=error)) from None
    if not isinstance(domain, (list, tuple)):
        raise ValidationError(env._(
            "%(config)s: the filter domain must be a list, got %(domain)r.", config=where, domain=domain))
    return list(domain)


def script_context(env: 'Environment', records: 'BaseModel | None', request_data: object, remote_id: str | None = None,
                   value: object = None, direction: str = 'out') -> dict[str, object]:
    """Names available to mapping-line and payload scripts (docs/reference.md, "Scripts"); ``remote_id``:
    the record's remote id in the config's scope (``engine/outbound/remote.py``), None for a page or none yet.
    ``direction`` is 'in' when a line reads a request sent to an inbound endpoint, ``value`` then being
    its key's input (``engine/inbound/reverse.py``)."""
    return {
        **time_values(),
        'env': env,
        'model': records.browse() if records is not None else None,
        'records': records,
        'record': records if records is not None and len(records) == 1 else None,
        'request_data': request_data,
        'remote_id': remote_id,
        'value': value,
        'direction': direction,
        'json': odoo_safe_eval.json,
        're': _re_module,
        'b64encode': base64.b64encode,
        'b64decode': base64.b64decode,
        'UserError': UserError,
        'Command': Command,
        'log': _script_log,
    }


def _script_log(message, level='info'):
    script_logger.log(logging.getLevelName(level.upper()), "%s", message)


class CompiledScript:
    """A user script with its import lines resolved, ready to run many times.

    Construction raises :class:`ScriptError` for syntax errors and refused
    imports, so a config can be validated when it is saved.
    """

    def __init__(self, source, where: str) -> None:
        self.where = where
        self.filename = f"<{where}>"
        self.source, self.imported = _strip_imports(source or '', where)
        self.mode = _mode_of(self.source)
        # Checked and compiled once: safe_eval() would do it again for every record, which
        # took half the time of building a payload with one python line.
        try:
            self.code = checked_code(self.source, _SAFE_OPCODES, self.mode, self.filename)
        except NameError as forbidden:  # a forbidden name such as __class__
            raise ScriptError(where, str(forbidden).replace('\n', ' ')) from None
        except (SyntaxError, TypeError, ValueError):
            # Odoo's own wording of the error, with its line.
            error = odoo_safe_eval.test_python_expr(self.source, mode=self.mode)
            raise ScriptError(where, error.replace('\n', ' ')) from None

    def run(self, context: dict[str, object]) -> object:
        """Return the expression's value, or the ``result`` the statements set (None if unset)."""
        values = {**context, **self.imported}
        if self.mode == 'exec':
            values.setdefault('result', None)
        try:
            value = _run_checked(self.code, values)
        except DATABASE_ERRORS:
            raise
        except exceptions.UserError as error:
            # Raised on purpose: the author's own message, as written.
            raise ScriptError(self.where, error.args[0], self._lineno(error)) from None
        except Exception as error:
            raise ScriptError(self.where, f"{type(error).__name__}: {error}", self._lineno(error)) from None
        return value if self.mode == 'eval' else values.get('result')

    def _lineno(self, error):
        lineno = getattr(error, 'lineno', None) if isinstance(error, SyntaxError) else None
        traceback = error.__traceback__
        while traceback is not None:
            if traceback.tb_frame.f_code.co_filename == self.filename:
                lineno = traceback.tb_lineno
            traceback = traceback.tb_next
        return lineno


def _run_checked(code, values):
    """What safe_eval() does once it has compiled and checked the code (checked_code): refuse
    unsafe values in the context, give only its restricted builtins, run."""
    check_values(values)
    values['__builtins__'] = dict(_BUILTINS)
    return eval(code, values)  # noqa: S307  # pylint: disable=eval-used  # code checked by checked_code() only


def _mode_of(source):
    try:
        ast.parse(source.strip() or 'None', mode='eval')
    except SyntaxError:
        return 'exec'
    return 'eval'


def _strip_imports(source, where):
    """Blank out allowed import statements; return (new source, names they bind).

    Line numbers are kept, so errors still point at the user's lines.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise ScriptError(where, f"SyntaxError: {error.msg}", error.lineno) from None
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    if not imports:
        return source, {}
    bound = {}
    for node in imports:
        bound.update(_bindings(node, where))
    lines = source.splitlines(keepends=True)
    # Replace from the end so earlier offsets stay valid.
    for node in sorted(imports, key=lambda n: (n.lineno, n.col_offset), reverse=True):
        first, last = node.lineno - 1, node.end_lineno - 1
        head, tail = lines[first][:node.col_offset], lines[last][node.end_col_offset:]
        lines[first:last + 1] = [head + 'pass' + tail] + ['\n'] * (last - first)
    return ''.join(lines), bound


def _bindings(node, where):
    if isinstance(node, ast.Import):
        names = {}
        for alias in node.names:
            module = _importable(alias.name, node, where)
            if alias.asname:
                names[alias.asname] = module
            else:
                # ``import dateutil.parser`` binds ``dateutil``.
                top = alias.name.split('.')[0]
                names[top] = _importable(top, node, where)
        return names
    if node.level or node.module is None:
        raise ScriptError(where, "relative imports are not allowed", node.lineno)
    module = _importable(node.module, node, where)
    names = {}
    for alias in node.names:
        if alias.name == '*' or not hasattr(module, alias.name):
            raise ScriptError(
                where, f"'from {node.module} import {alias.name}' is not allowed", node.lineno)
        names[alias.asname or alias.name] = getattr(module, alias.name)
    return names


def _importable(name, node, where):
    if name not in IMPORTABLE:
        raise ScriptError(
            where,
            f"import of '{name}' is not allowed; scripts may import only {', '.join(sorted(IMPORTABLE))}",
            node.lineno,
        )
    return IMPORTABLE[name]
