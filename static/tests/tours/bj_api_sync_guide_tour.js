/** @odoo-module **/
/**
 * The user guide's path (docs/guide.md), walked by an administrator: the menu, the three example
 * configurations, triggers by hand and in one click, a CRM kept in sync, an inbound endpoint, the logs.
 *
 * The test (tests/test_guide_screenshots.py) prepares the records and passes their ids in the
 * bj_guide cookie. Where the guide has a picture, a step logs "bj-screenshot:<name>" and waits until
 * the test's browser has captured the page. Steps find elements by technical names only, never by
 * label, so the same tour runs in English and in Ukrainian.
 */
import { registry } from "@web/core/registry";

// The actions the guide opens; each is named once here.
const ACTIONS = {
    outbound: "bj_api_sync.action_bj_api_sync_outbound",
    inbound: "bj_api_sync.action_bj_api_sync_inbound",
    logs: "bj_api_sync.action_bj_api_log",
    deliveries: "bj_api_sync.action_bj_api_sync_job",
    remoteIds: "bj_api_sync.action_bj_api_sync_link",
    automations: "base_automation.base_automation_act",
    serverActions: "base.action_server_action",
    scheduledActions: "base.ir_cron_act",
};
const SCREENSHOT_TIMEOUT_MS = 10000;

function guideData() {
    const match = document.cookie.match(/(?:^|;\s*)bj_guide=([^;]+)/);
    return match ? JSON.parse(decodeURIComponent(match[1])) : { ids: {} };
}

function delay(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Open a page by its URL (a full page load: the tour goes on on the new page). */
function open(action, id) {
    const path = `/odoo/action-${action}${id ? `/${id}` : ""}?debug=1`;
    return { content: `Open ${path}`, trigger: "body", run: `goToUrl ${path}`, expectUnloadPage: true };
}

/** Once ``trigger`` is shown, have the page captured as ``name`` and wait for it. */
function screenshot(name, trigger) {
    return {
        content: `Screenshot ${name}`,
        trigger,
        async run() {
            // Let late renderings (counters, code editors, graphs) settle.
            await delay(400);
            window.bjScreenshotTaken = null;
            console.log(`bj-screenshot:${name}`);
            const deadline = Date.now() + SCREENSHOT_TIMEOUT_MS;
            while (window.bjScreenshotTaken !== name) {
                if (Date.now() > deadline) {
                    throw new Error(`The page was not captured as ${name} within ${SCREENSHOT_TIMEOUT_MS} ms`);
                }
                await delay(50);
            }
        },
    };
}

function openForm(action, id) {
    return [open(action, id), { content: "Form loaded", trigger: '.o_form_view div[name="name"]' }];
}

function tab(name) {
    return [
        { content: `Tab ${name}`, trigger: `.o_form_view a.nav-link[name="${name}"]`, run: "click" },
        { content: `Tab ${name} shown`, trigger: `.o_form_view a.nav-link.active[name="${name}"]` },
    ];
}

/** Click the n-th header button named ``name`` (its label is translated, its order is not). */
function headerButton(name, index = 0) {
    return {
        content: `Header button ${name} #${index}`,
        trigger: `.o_form_view .o_form_statusbar button[name="${name}"]`,
        async run(helpers) {
            const buttons = document.querySelectorAll(`.o_form_view .o_form_statusbar button[name="${name}"]`);
            await helpers.click(buttons[index]);
        },
    };
}

/** Show the optional columns ``names`` of the form's list ``field``. */
function showOptionalColumns(field, names) {
    const menu = ".o-dropdown--menu";
    const toggle = `.o_form_view div[name="${field}"] .o_optional_columns_dropdown_toggle`;
    return [
        { content: `Optional columns of ${field}`, trigger: toggle, run: "click" },
        ...names.map((name) => ({
            content: `Show the column ${name}`,
            trigger: `${menu} input[name="${name}"]`,
            async run(helpers) {
                if (!this.anchor.checked) {
                    await helpers.click(this.anchor);
                }
            },
        })),
        {
            content: "Close the menu",
            trigger: `${menu} input[name="${names.at(-1)}"]:checked`,
            async run(helpers) {
                await helpers.click(document.querySelector(toggle));
            },
        },
        { content: "Menu closed", trigger: `body:not(:has(${menu}))` },
    ];
}

function closeDialog() {
    return [
        { content: "Close the dialog", trigger: ".modal .modal-footer .btn-secondary", run: "click" },
        { content: "Dialog closed", trigger: "body:not(:has(.modal))" },
    ];
}

registry.category("web_tour.tours").add("bj_api_sync_guide_tour", {
    url: "/odoo?debug=1",
    steps: () => {
        const { ids, sample, newDomain } = guideData();
        return [
            // Setup: Settings > Technical > BJ API
            open(ACTIONS.outbound),
            { content: "Configurations listed", trigger: ".o_list_view .o_data_row" },
            screenshot("config_list", ".o_list_view .o_data_row"),
            {
                content: "Open the Technical menu",
                trigger: '.o_main_navbar [data-menu-xmlid="base.menu_custom"]',
                run: "click",
            },
            {
                content: "Show the BJ API section",
                trigger: '.dropdown-menu [data-menu-xmlid^="bj_api_sync."]',
                run() {
                    this.anchor.scrollIntoView({ block: "center" });
                },
            },
            screenshot("menu", '.dropdown-menu [data-menu-xmlid^="bj_api_sync."]'),

            // Example 1: new customers to a CRM
            ...openForm(ACTIONS.outbound, ids.example1),
            screenshot("example1_general", '.o_form_view div[name="domain"] .o_field_domain_dialog_button'),
            ...tab("mapping"),
            screenshot("example1_mapping", '.o_form_view div[name="line_ids"] .o_data_row'),
            ...tab("headers"),
            screenshot("example1_headers", '.o_form_view div[name="header_ids"] .o_data_row'),
            ...tab("authentication"),
            screenshot("example1_auth", '.o_form_view div[name="auth_login"] input'),
            ...tab("advanced"),
            screenshot("example1_advanced", '.o_form_view div[name="read_timeout"] input'),
            // The domain, changed in the dialog (then discarded: the example keeps its own)
            ...tab("general"),
            {
                content: "Edit Domain",
                trigger: '.o_form_view div[name="domain"] .o_field_domain_dialog_button',
                run: "click",
            },
            {
                content: "Type the new domain in the code editor (debug mode)",
                trigger: ".modal .o_domain_selector_debug_container textarea",
                async run(helpers) {
                    await helpers.edit(newDomain);
                },
            },
            { content: "Leave the code editor", trigger: ".modal .modal-title", run: "click" },
            screenshot("example1_domain", ".modal .o_tree_editor_condition"),
            ...closeDialog(),
            // Triggers in one click
            headerButton("action_create_trigger", 1),
            { content: "Automation rule wizard", trigger: '.modal div[name="trigger"]' },
            screenshot("trigger_automation", '.modal div[name="trigger"] input:checked'),
            ...closeDialog(),
            headerButton("action_create_trigger", 0),
            { content: "Scheduled action wizard", trigger: '.modal div[name="interval_number"] input' },
            screenshot("trigger_cron", '.modal div[name="interval_type"]'),
            ...closeDialog(),
            // Preview, then Send Test from it
            headerButton("action_preview_payload"),
            {
                content: "The preview opens, on a request that can be sent",
                trigger: '.modal div[name="preview_url"], .modal .o_bj_preview_error',
                run() {
                    const error = document.querySelector(".modal .o_bj_preview_error");
                    if (error) {
                        throw new Error(`The preview refuses the request: ${error.textContent.trim()}`);
                    }
                },
            },
            {
                content: `Sample record ${sample}`,
                trigger: '.modal div[name="res_id"] input',
                run: `edit ${sample}`,
            },
            {
                content: `Choose ${sample}`,
                trigger: `.modal div[name="res_id"] .o-autocomplete--dropdown-item a:contains("${sample}")`,
                async run(helpers) {
                    // The suggestions are searched again while typing: choose from the last search.
                    await delay(600);
                    const items = document.querySelectorAll('.modal div[name="res_id"] .o-autocomplete--dropdown-item a');
                    await helpers.click([...items].find((item) => item.textContent.includes(sample)));
                },
            },
            { content: "No suggestions left open", trigger: "body:not(:has(.o-autocomplete--dropdown-menu))" },
            {
                content: "The body is the sample's payload",
                trigger: `.modal div[name="preview_body"]:contains("${sample}")`,
            },
            screenshot("preview", `.modal div[name="preview_body"]:contains("${sample}")`),
            { content: "Send Test", trigger: '.modal button[name="action_send_test"]', run: "click" },
            {
                content: "The log of the test opens",
                trigger: '.o_form_view div[name="status"] .badge, .o_form_view div[name="response_status_code"]',
            },
            screenshot("send_test_log", 'body:not(:has(.modal)) .o_form_view div[name="response_status_code"]'),

            // Example 2: inventory update, by pages, with a payload script
            ...openForm(ACTIONS.outbound, ids.example2),
            screenshot("example2_general", '.o_form_view div[name="http_method_ids"] .o_tag'),
            ...tab("script"),
            screenshot("example2_script", '.o_form_view div[name="python_script"] .ace_line'),
            ...tab("advanced"),
            screenshot("example2_advanced", '.o_form_view div[name="page_size"] input'),

            // Example 3: removal of cancelled orders, synced on update
            ...openForm(ACTIONS.outbound, ids.example3),
            screenshot("example3_general", '.o_form_view div[name="sync_field_ids"] .o_tag'),

            // Triggers by hand
            ...openForm(ACTIONS.automations, ids.rule),
            screenshot("manual_rule", '.o_form_view div[name="action_server_ids"] .o_kanban_record'),
            ...openForm(ACTIONS.serverActions, ids.ruleAction),
            screenshot("manual_rule_code", '.o_form_view div[name="code"] .ace_line'),
            ...openForm(ACTIONS.serverActions, ids.serverAction),
            screenshot("manual_server_action", '.o_form_view div[name="code"] .ace_line'),
            ...openForm(ACTIONS.scheduledActions, ids.cron),
            screenshot("manual_cron", '.o_form_view div[name="code"] .ace_line'),

            // Keeping a CRM in sync
            ...openForm(ACTIONS.outbound, ids.crm),
            ...tab("remote_ids"),
            screenshot("crm_remote_tab", '.o_form_view div[name="remote_id_path"] input'),
            headerButton("action_create_sync_companions"),
            { content: "Confirm", trigger: ".modal .modal-footer .btn-primary", run: "click" },
            {
                content: "The create, update and delete configurations are listed",
                trigger: ".o_list_view .o_data_row:nth-child(3)",
            },
            screenshot("crm_companions", "body:not(:has(.modal)) .o_list_view .o_data_row:nth-child(3)"),
            open(ACTIONS.remoteIds),
            screenshot("crm_remote_ids", ".o_list_view .o_data_row"),
            open(ACTIONS.deliveries),
            screenshot("deliveries", ".o_list_view .o_data_row"),

            // An inbound endpoint
            ...openForm(ACTIONS.inbound, ids.endpoint),
            {
                content: "Show the curl examples",
                trigger: '.o_form_view div[name="inbound_examples"]',
                run() {
                    this.anchor.scrollIntoView({ block: "center" });
                },
            },
            screenshot("inbound_form", '.o_form_view div[name="inbound_examples"]'),
            ...tab("mapping"),
            ...showOptionalColumns("line_ids", ["is_identifier", "mapping_config_id"]),
            screenshot("inbound_mapping", '.o_form_view div[name="line_ids"] th[data-name="mapping_config_id"]'),

            // Reading the logs
            open(ACTIONS.logs),
            screenshot("logs_list", ".o_list_view .o_data_row"),
            { content: "Graph view", trigger: ".o_switch_view.o_graph", run: "click" },
            screenshot("logs_graph", ".o_graph_renderer canvas"),
        ];
    },
});
