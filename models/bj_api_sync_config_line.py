from odoo import api, fields, models
from odoo.exceptions import ValidationError


class BjApiSyncConfigLine(models.Model):
    """One key of the payload and where its value comes from."""
    _name = 'bj.api.sync.config.line'
    _inherit = ['bj.api.sync.config.part']
    _description = 'BJ API Field Mapping Line'
    _order = 'sequence, id'
    _rec_name = 'api_key'

    config_id = fields.Many2one('bj.api.sync.config', required=True, ondelete='cascade', index=True)
    model_id = fields.Many2one(related='config_id.model_id')
    model_name = fields.Char(related='config_id.model_name')
    sequence = fields.Integer(default=10)
    field_id = fields.Many2one(
        'ir.model.fields', string='Odoo Field', ondelete='set null',
        domain="[('model_id', '=', model_id)]",
        help="The model's field the path starts with; setting it fills the field path.")
    field_path = fields.Char(
        compute='_compute_field_path', store=True, readonly=False,
        help="Dotted path from the record, e.g. partner_id.name, picked by technical name or label "
             "(the picker follows relations). Filled from the Odoo field when empty.")
    api_key = fields.Char(
        string='JSON Key', required=True,
        help="Key in the JSON payload (the external system's). A dotted key (address.city) builds nested objects.")
    value_type = fields.Selection([
        ('plain', 'Plain'),
        ('relational', 'Relational'),
        ('python', 'Python'),
        ('constant', 'Constant'),
    ], default='plain', required=True,
        help="Plain: the field's value. Relational: follow the path, or apply a sub-mapping to the "
             "related record(s). Python: the value of a script. Constant: a fixed value.")
    mapping_config_id = fields.Many2one(
        'bj.api.sync.config', string='Sub-mapping', ondelete='restrict',
        help="Relational lines: the configuration whose mapping lines turn each related record into an object.")
    python_code = fields.Text(
        help="An expression, or statements that set result. Available: env, model, records, record, "
             "request_data, value and direction (inbound), datetime, timedelta, relativedelta, time, dateutil, json, re, b64encode, "
             "b64decode, UserError, Command, log.")
    constant_value = fields.Char(help="A JSON literal (42, true, {\"a\": 1}) or plain text.")
    value_text = fields.Text(
        string='Value', compute='_compute_value_text', inverse='_inverse_value_text',
        help="Python lines: an expression, or statements that set result. Constant lines: a JSON literal or text.")
    is_identifier = fields.Boolean(
        string='Identifier',
        help="Marks the key that identifies the record; at most one line per configuration. An inbound endpoint "
             "finds the record of /<endpoint>/<id> by it, and relational lines whose sub-mapping this is find "
             "related records by it (a country by its code).")
    request_type = fields.Selection(related='config_id.request_type')

    @api.depends('field_id')
    def _compute_field_path(self):
        for line in self.filtered('field_id'):
            # A path that already starts with the field (partner_id.name for partner_id) is kept.
            if (line.field_path or '').split('.')[0] != line.field_id.name:
                line.field_path = line.field_id.name

    def _path_field(self, model_name, path):
        """The model's field a path starts with (partner_id for partner_id.name), or nothing."""
        first = (path or '').strip().split('.')[0]
        return self.env['ir.model.fields']._get(model_name, first)

    @api.onchange('field_path')
    def _onchange_field_path(self):
        for line in self:
            line.field_id = self._path_field(line.model_name, line.field_path)

    # field_path is the source of truth: a path written without its field (by code, an import)
    # gets field_id too, as the form's onchange gives it.
    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if 'field_id' not in vals and vals.get('field_path') and vals.get('config_id'):
                model_name = self.env['bj.api.sync.config'].browse(vals['config_id']).model_name
                vals['field_id'] = self._path_field(model_name, vals['field_path']).id
        return super().create(vals_list)

    def write(self, vals):
        result = super().write(vals)
        if 'field_path' in vals and 'field_id' not in vals:
            for line in self:
                field = self._path_field(line.model_name, line.field_path)
                if line.field_id != field:
                    line.field_id = field
        return result

    @api.depends('value_type', 'python_code', 'constant_value')
    def _compute_value_text(self):
        for line in self:
            line.value_text = {'python': line.python_code, 'constant': line.constant_value}.get(line.value_type)

    def _inverse_value_text(self):
        for line in self:
            if line.value_type == 'python':
                line.python_code = line.value_text
            elif line.value_type == 'constant':
                line.constant_value = line.value_text

    @api.constrains('field_path', 'api_key', 'value_type', 'mapping_config_id', 'python_code', 'constant_value')
    def _check_line(self):
        for line in self:
            if line.value_type in ('plain', 'relational') and not (line.field_path or '').strip():
                raise ValidationError(self.env._(
                    'BJ API config "%(config)s", mapping line "%(key)s": choose a field or write a field path.',
                    config=line.config_id.name, key=line.api_key))
            if any(not part.strip() for part in line.api_key.split('.')):
                raise ValidationError(self.env._(
                    'BJ API config "%(config)s": the API key "%(key)s" has an empty part.',
                    config=line.config_id.name, key=line.api_key))
        self.config_id._check_mapping()

    @api.constrains('is_identifier', 'config_id')
    def _check_single_identifier(self):
        for config in self.config_id:
            identifiers = config.line_ids.filtered('is_identifier')
            if len(identifiers) > 1:
                raise ValidationError(self.env._(
                    'BJ API config "%(config)s": only one mapping line can be the identifier (%(keys)s are).',
                    config=config.name, keys=', '.join(identifiers.mapped('api_key'))))
