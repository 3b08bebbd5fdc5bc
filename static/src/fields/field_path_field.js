/** @odoo-module **/
/**
 * The mapping line's field path: a dotted path picked in Odoo's field selector, which follows
 * relations. Odoo 18.0 and 19.0 name their own widget for this differently
 * (DynamicModelFieldSelectorChar, field_selector); this one is the same on both.
 * Options: model, the name of the record's field holding the model to pick from.
 */
import { Component } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { ModelFieldSelector } from "@web/core/model_field_selector/model_field_selector";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

export class FieldPathField extends Component {
    static template = "bj_api_sync.FieldPathField";
    static components = { ModelFieldSelector };
    static props = {
        ...standardFieldProps,
        modelField: { type: String, optional: true },
    };

    get path() {
        return this.props.record.data[this.props.name] || "";
    }

    get selectorProps() {
        return {
            allowEmpty: !this.props.required,
            path: this.path,
            resModel: this.props.record.data[this.props.modelField] || this.props.record.resModel,
            readonly: this.props.readonly,
            update: (path) => this.props.record.update({ [this.props.name]: path }),
            isDebugMode: !!this.env.debug,
            followRelations: true,
        };
    }
}

registry.category("fields").add("bj_field_path", {
    component: FieldPathField,
    displayName: _t("Field Path"),
    supportedTypes: ["char"],
    extractProps: ({ options }) => ({ modelField: options.model }),
});
