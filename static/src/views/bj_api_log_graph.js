/** @odoo-module **/
/**
 * Logs graph: bars grouped by status take the status colours of the log list
 * (success green, failed-and-retried orange, error red, skipped grey) instead of
 * the palette's order-dependent colours.
 */
import { patch } from "@web/core/utils/patch";
import { GraphRenderer } from "@web/views/graph/graph_renderer";

const STATUS_COLORS = {
    success: "#28a745",
    retry: "#f0ad4e",
    error: "#dc3545",
    skipped: "#adb5bd",
};

patch(GraphRenderer.prototype, {
    getBarChartData() {
        const data = super.getBarChartData(...arguments);
        const { resModel, fields } = this.model.metaData;
        if (resModel !== "bj.api.log" || !fields.status?.selection) {
            return data;
        }
        const statusOfLabel = Object.fromEntries(fields.status.selection.map(([value, label]) => [label, value]));
        for (const dataset of data.datasets) {
            const color = STATUS_COLORS[statusOfLabel[dataset.label]];
            if (color && dataset.type !== "line") {
                dataset.backgroundColor = color;
            }
        }
        return data;
    },
});
