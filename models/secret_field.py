from odoo import fields


class _SecretMixin:
    """A password, token or key: readable in the form by those its groups allow, never
    offered for searching, sorting, grouping or export, where it would show in clear."""
    exportable = False

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
