from odoo import fields
from odoo.exceptions import UserError


def raise_secret(model, field):
    raise UserError(model.env._("%(field)s is secret: it cannot be searched or grouped by.", field=field.string))


class _SecretMixin:
    """A password, token or key: readable in the form by those its groups allow, never
    offered for searching, sorting, grouping or export, where it would show in clear."""
    exportable = False

    def condition_to_sql(self, field_expr, operator, value, model, alias, query):
        # 19.0 asks the field for a domain condition's SQL (18.0 asks the model: bj_api_sync_config.py)
        raise_secret(model, self)

    @property
    def _description_searchable(self):
        return False

    def _description_sortable(self, env):
        return False

    def _description_groupable(self, env):
        return False


class Secret(_SecretMixin, fields.Char):
    type = 'char'


class SecretText(_SecretMixin, fields.Text):
    """A multi-line secret, such as a PEM private key."""
    type = 'text'


SECRET_TYPES = (Secret, SecretText)
