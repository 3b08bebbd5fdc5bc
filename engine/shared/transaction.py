"""Data that lives as long as the current transaction.

``cr.precommit.data`` does not: every flush runs the precommit hooks and clears it, and each
``cr.savepoint()`` flushes. ``cr.postcommit.data`` is cleared only when the transaction ends (by the
commit's postcommit hooks, or by a rollback), so what must hold for the whole transaction is kept there.
"""
from collections.abc import Callable
from typing import TypeVar

Value = TypeVar('Value')


def transaction_data(cr, key: str, default: Callable[[], Value]) -> Value:
    """The value kept under ``key`` for the transaction of ``cr``, made by ``default()`` the first time."""
    data = cr.postcommit.data
    if key not in data:
        data[key] = default()
    return data[key]
