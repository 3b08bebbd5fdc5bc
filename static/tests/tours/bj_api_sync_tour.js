/** @odoo-module **/
/**
 * An administrator creates an outbound configuration from Settings > Technical > BJ API > Outbound:
 * Basic auth, a header, three mapping lines; previews the payload of a sample record,
 * sends a test to the local API started by the test (its URL comes in the
 * bj_api_tour_url cookie) and opens the resulting log.
 */
import { registry } from "@web/core/registry";

// Odoo's stepUtils moved between 18.0 and 19.0: the two steps needed are written here, as both define them.
const openAppsMenu = { trigger: ".o_navbar_apps_menu button:enabled", run: "click" };
const saveForm = [
    { content: "save form", trigger: ".o_form_button_save:enabled", run: "click" },
    { content: "wait for save completion", trigger: ".o_form_readonly, .o_form_saved" },
];

function apiUrl() {
    const match = document.cookie.match(/(?:^|;\s*)bj_api_tour_url=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "http://127.0.0.1:9/missing-cookie";
}

/** Type ``text`` in a many2one and pick the suggestion whose label is exactly ``label``. */
function pickInDropdown(fieldSelector, text, label = text) {
    return [
        {
            content: `Type ${text}`,
            trigger: `${fieldSelector} input`,
            run: `edit ${text}`,
        },
        {
            content: `Choose ${label}`,
            trigger: `${fieldSelector} .o-autocomplete--dropdown-item a:contains("${label}")`,
            async run(helpers) {
                const items = [...document.querySelectorAll(`${fieldSelector} .o-autocomplete--dropdown-item a`)];
                const item = items.find((el) => el.textContent.trim() === label) || this.anchor;
                await helpers.click(item);
            },
        },
        {
            content: `${label} chosen`,
            trigger: `${fieldSelector} .o-autocomplete:not(:has(.o-autocomplete--dropdown-menu))`,
        },
    ];
}

const FIELD_PATH = 'div[name="line_ids"] .o_selected_row div[name="field_path"]';

/** Add a line: its API key, then its field path typed in the path picker's bottom input (dotted paths too). */
function addMappingLine(fieldPath, apiKey, label) {
    return [
        {
            content: "Add a mapping line",
            trigger: 'div[name="line_ids"] .o_field_x2many_list_row_add a',
            run: "click",
        },
        {
            content: `API key ${apiKey}`,
            trigger: 'div[name="line_ids"] .o_selected_row div[name="api_key"] input',
            run: `edit ${apiKey}`,
        },
        {
            content: "Open the field path picker",
            trigger: `${FIELD_PATH} .o_model_field_selector`,
            run: "click",
        },
        {
            content: `Type the path ${fieldPath}`,
            trigger: ".o_model_field_selector_popover .o_model_field_selector_debug",
            run: `edit ${fieldPath}`,
        },
        {
            content: "Close the picker",
            trigger: ".o_model_field_selector_popover .o_model_field_selector_popover_close",
            run: "click",
        },
        {
            content: `Path shown as ${label}`,
            trigger: `${FIELD_PATH} .o_model_field_selector_value:contains("${label}")`,
        },
    ];
}

registry.category("web_tour.tours").add("bj_api_sync_tour", {
    url: "/odoo?debug=1",
    steps: () => [
        openAppsMenu,
        {
            content: "Open Settings",
            trigger: '.o_app[data-menu-xmlid="base.menu_administration"]',
            run: "click",
        },
        {
            content: "Open the Technical menu",
            trigger: '.o_main_navbar [data-menu-xmlid="base.menu_custom"]',
            run: "click",
        },
        {
            content: "BJ API > Outbound",
            trigger: '.dropdown-item[data-menu-xmlid="bj_api_sync.menu_bj_api_sync_outbound"]',
            run: "click",
        },
        {
            content: "Create a configuration",
            trigger: ".o_list_view .o_list_button_add",
            run: "click",
        },
        {
            content: "Name it",
            trigger: 'div[name="name"] input',
            run: "edit Tour: Customers to CRM",
        },
        {
            content: "Outbound is the type of a configuration created from the Outbound menu",
            trigger: 'div[name="request_type"] input[data-value="out"]:checked',
        },
        ...pickInDropdown('div[name="model_id"]', "res.partner", "Contact"),
        {
            content: "Request URL of the local API",
            trigger: 'div[name="url"] input',
            async run(helpers) {
                await helpers.edit(apiUrl());
            },
        },
        {
            content: "POST is preselected",
            trigger: 'div[name="http_method_ids"] .o_tag:contains("POST")',
        },
        // Field mapping: one line from the field picker, two typed paths (one dotted).
        {
            content: "Field Mapping tab",
            trigger: 'a.nav-link[name="mapping"]',
            run: "click",
        },
        {
            content: "Add a mapping line",
            trigger: 'div[name="line_ids"] .o_field_x2many_list_row_add a',
            run: "click",
        },
        {
            content: "API key email_address",
            trigger: 'div[name="line_ids"] .o_selected_row div[name="api_key"] input',
            run: "edit email_address",
        },
        {
            content: "Open the field path picker",
            trigger: `${FIELD_PATH} .o_model_field_selector`,
            run: "click",
        },
        {
            content: "Search the fields by technical name",
            trigger: ".o_model_field_selector_popover .o_model_field_selector_popover_search input",
            run: "edit email",
        },
        {
            content: "Pick email (its technical name is shown beside its label)",
            trigger: '.o_model_field_selector_popover_item[data-name="email"] .o_model_field_selector_popover_item_name:contains("email (char)")',
            run: "click",
        },
        {
            content: "Field path set to Email",
            trigger: `${FIELD_PATH} .o_model_field_selector_value:contains("Email")`,
        },
        ...addMappingLine("name", "full_name", "Name"),
        ...addMappingLine("parent_id.name", "company_name", "Related Company"),
        // Headers
        {
            content: "Headers tab",
            trigger: 'a.nav-link[name="headers"]',
            run: "click",
        },
        {
            content: "Add a header",
            trigger: 'div[name="header_ids"] .o_field_x2many_list_row_add a',
            run: "click",
        },
        {
            content: "Header name",
            trigger: 'div[name="header_ids"] .o_selected_row div[name="key"] input',
            run: "edit X-API-Version",
        },
        {
            content: "Header value",
            trigger: 'div[name="header_ids"] .o_selected_row div[name="value"] input',
            run: "edit 2.0",
        },
        // Authentication
        {
            content: "Authentication tab",
            trigger: 'a.nav-link[name="authentication"]',
            run: "click",
        },
        {
            content: "No login field before Basic Auth is chosen",
            trigger: 'div[name="auth_type"] input[data-value="none"]:checked',
            run() {
                if (document.querySelector('div[name="auth_login"]')) {
                    throw new Error("The login field shows for an authorization type that has none");
                }
            },
        },
        {
            content: "Basic Auth",
            trigger: 'div[name="auth_type"] input[data-value="basic"]',
            run: "click",
        },
        {
            content: "Login",
            trigger: 'div[name="auth_login"] input',
            run: "edit tour_user",
        },
        {
            content: "Password",
            trigger: 'div[name="auth_password"] input[type="password"]',
            run: "edit tour-secret-pw",
        },
        ...saveForm,
        // Preview: nothing is sent
        {
            content: "Preview Payload",
            trigger: 'button[name="action_preview_payload"]',
            run: "click",
        },
        {
            content: "The preview dialog opens on the first record of the domain",
            trigger: '.modal div[name="preview_url"]:contains("/api/customers")',
        },
        ...pickInDropdown('.modal div[name="res_id"]', "BJ Tour Customer"),
        {
            content: "The body is the sample's mapped payload",
            trigger: '.modal div[name="preview_body"]:contains("BJ Tour Company")',
        },
        {
            content: "The method is POST",
            trigger: '.modal div[name="preview_method"]:contains("POST")',
        },
        {
            content: "Headers tab of the preview",
            trigger: '.modal a.nav-link[name="headers"]',
            run: "click",
        },
        {
            content: "The Basic credentials are masked",
            trigger: '.modal div[name="preview_headers"]:contains("Basic ***")',
            run() {
                const text = document.querySelector('.modal div[name="preview_headers"]').textContent;
                if (text.includes("tour-secret-pw") || text.includes(btoa("tour_user:tour-secret-pw"))) {
                    throw new Error("The preview shows a secret");
                }
            },
        },
        // Send Test: sends now, notifies, opens the log
        {
            content: "Send Test",
            trigger: '.modal button[name="action_send_test"]',
            run: "click",
        },
        {
            content: "The outcome is notified",
            trigger: '.o_notification:contains("HTTP 201")',
        },
        {
            content: "The log of the test opens",
            trigger: '.o_form_view div[name="status"]:contains("Success")',
        },
        {
            content: "It shows the response, pretty-printed",
            trigger: '.o_form_view a.nav-link[name="response"]',
            run: "click",
        },
        {
            content: "Response body",
            trigger: '.o_form_view div[name="response_body_pretty"]:contains("tour-42")',
        },
        // The logs dashboard
        {
            content: "Open the Technical menu",
            trigger: '.o_main_navbar [data-menu-xmlid="base.menu_custom"]',
            run: "click",
        },
        {
            content: "BJ API > Logs",
            trigger: '.dropdown-item[data-menu-xmlid="bj_api_sync.menu_bj_api_log"]',
            run: "click",
        },
        {
            content: "The test's log is listed",
            trigger: '.o_list_view .o_data_row:contains("Tour: Customers to CRM")',
        },
        {
            content: "Graph view",
            trigger: ".o_switch_view.o_graph",
            run: "click",
        },
        {
            content: "Requests per day by status",
            trigger: ".o_graph_renderer canvas",
        },
        {
            content: "Pivot view",
            trigger: ".o_switch_view.o_pivot",
            run: "click",
        },
        {
            content: "Average duration per configuration",
            trigger: '.o_pivot th:contains("Tour: Customers to CRM")',
        },
    ],
});
