from odoo import fields


class Secret(fields.Char):
    """A password, token or key: readable in the form by those its groups allow, never
    offered for searching, sorting, grouping or export, where it would show in clear."""
    type = 'char'
    exportable = False

    @property
    def _description_searchable(self):
        return False

    def _description_sortable(self, env):
        return False

    def _description_groupable(self, env):
        return False
