// Admin > Email templates (manual 9.9): Type / Active / Language filters, TOTAL TEMPLATES, and each
// row's menu: Send test email, Preview, Activate, Edit template, Create copy, Delete template. System
// templates can only be copied (the API answers TEMPLATE_IS_SYSTEM), so they offer no Edit or Delete.

import { h } from "../../core/dom.js";
import { LANGUAGES } from "../../core/i18n.js";
import { replaceQuery } from "../../core/router.js";
import { busy, button, field, filled, input, messageBox, moreList, pageHeader, select, table } from "../../core/ui.js";
import { mailView, menuButton, openDialog } from "./widgets.js";

export const TYPES = ["CONFIRM_EMAIL", "INVITE_USER", "NEW_BATCH", "RESET_PASSWORD", "PASSWORD_CHANGED"];
const TEMPLATES = `query EmailTemplates($filter: EmailTemplateFilter, $first: Int, $after: String) {
  emailTemplates(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id name type language active isSystem } } }`;
export const PREVIEW = `query EmailPreview($id: ID!) {
  emailTemplate(id: $id) { id name preview { subject html text } } }`;
const SEND_TEST = `mutation SendTestEmail($id: ID!, $to: String!) { sendTestEmail(templateId: $id, to: $to) }`;
export const COPY = `mutation CopyEmailTemplate($id: ID!) { copyEmailTemplate(id: $id) { id name } }`;
const ACTIVATE = `mutation ActivateEmailTemplate($id: ID!) { activateEmailTemplate(id: $id) { id name active } }`;
const DELETE = `mutation DeleteEmailTemplate($id: ID!) { deleteEmailTemplate(id: $id) }`;
const PAGE = 50;

/** Show the preview of a stored template (sample values) in a dialog. */
export async function showPreview(ctx, container, template, returnFocus) {
  const { t } = ctx;
  const { emailTemplate } = await ctx.gql(PREVIEW, { id: template.id });
  openDialog(container, {
    title: t("templates.preview.title", { name: emailTemplate.name }),
    className: "dialog-wide",
    content: [h("p", { class: "hint" }, t("templates.preview.hint")), mailView(emailTemplate.preview)],
    returnFocus,
  });
}

/** Show an API error; TEMPLATE_INVALID also shows the server's explanation (which placeholder, which line). */
export function showApiError(ctx, message, error) {
  const text = ctx.showError(error);
  if (error?.code === "TEMPLATE_INVALID" && error.message) {
    message.show([h("strong", {}, text), " ", h("span", { class: "detail" }, error.message)], "error");
  } else {
    message.show(text, "error");
  }
}

export async function renderTemplates(main, ctx) {
  const { t, query } = ctx;
  const all = { value: "", label: t("common.all") };
  const type = select([all, ...TYPES.map((v) => ({ value: v, label: t(`templates.type.${v}`) }))], { name: "type", value: query.get("type") || "" });
  const active = select(
    [all, { value: "true", label: t("templates.active") }, { value: "false", label: t("templates.inactive") }],
    { name: "active", value: query.get("active") || "" },
  );
  const language = select([all, ...LANGUAGES.map((v) => ({ value: v, label: t(`templates.language.${v}`) }))], { name: "language", value: query.get("language") || "" });
  const message = messageBox();
  message.element.setAttribute("tabindex", "-1");

  const filter = () => ({
    type: type.value || null,
    active: active.value === "" ? null : active.value === "true",
    language: language.value || null,
  });

  const done = async (text, focusId) => {
    await list.load(false);
    message.show(text, "success");
    const row = focusId && list.rows.querySelector(`tr[data-template-id="${focusId}"] .tpl-menu-trigger`);
    (row || message.element).focus?.();
  };

  const actions = (tpl) => {
    const items = [
      { id: "test", label: t("templates.action.test"), onSelect: (opener) => sendTest(tpl, opener) },
      { id: "preview", label: t("templates.action.preview"), onSelect: (opener) => preview(tpl, opener) },
    ];
    // a system template stays "Active"; activating it retires the organisation's own active copy
    if (!tpl.active || tpl.isSystem) items.push({ id: "activate", label: t("templates.action.activate"), onSelect: () => activate(tpl) });
    if (!tpl.isSystem) {
      items.push({ id: "edit", label: t("templates.action.edit"), onSelect: () => ctx.navigate(`/templates/${encodeURIComponent(tpl.id)}/edit`) });
    }
    items.push({ id: "copy", label: t("templates.action.copy"), onSelect: () => copy(tpl) });
    if (!tpl.isSystem) items.push({ id: "delete", label: t("templates.action.delete"), onSelect: (opener) => remove(tpl, opener) });
    return menuButton(t("templates.actionsFor", { name: tpl.name }), items);
  };

  const list = moreList({
    name: "templates",
    moreLabel: t("templates.more"),
    totalText: (count) => t("templates.total", { count }),
    message,
    // No overflow clipping here: the row menus must be able to reach below the table.
    className: "tpl-table",
    fetch: async (after) => (await ctx.gql(TEMPLATES, { filter: filter(), first: PAGE, after })).emailTemplates,
    render: (nodes) =>
      table(
        [
          { label: t("templates.col.name"), cell: (x) => x.name },
          { label: t("templates.col.type"), cell: (x) => t(`templates.type.${x.type}`) },
          { label: t("templates.col.language"), cell: (x) => t(`templates.language.${x.language}`) },
          {
            label: t("templates.col.active"),
            cell: (x) => h("span", { class: ["badge", x.active ? "badge-claimed" : "badge-unclaimed"] }, x.active ? t("templates.active") : t("templates.inactive")),
          },
          { label: h("span", { class: "sr-only" }, t("templates.col.actions")), cell: actions, className: "row-actions" },
        ],
        nodes,
        { caption: t("templates.title"), rowAttrs: (x) => ({ dataset: { template: x.name, templateId: x.id, system: String(x.isSystem) } }) },
      ),
  });

  async function preview(tpl, opener) {
    message.clear();
    try {
      await showPreview(ctx, main, tpl, opener);
    } catch (error) {
      showApiError(ctx, message, error);
    }
  }

  function sendTest(tpl, opener) {
    const to = input({ type: "email", name: "to", value: ctx.session.user.email, autocomplete: "email", required: true });
    const error = messageBox();
    const confirm = button(t("templates.test.confirm"), { kind: "primary", type: "submit" });
    const cancel = button(t("common.cancel"));
    const form = h(
      "form",
      { class: "test-mail-form", novalidate: true },
      h("p", {}, t("templates.test.text", { name: tpl.name })),
      error.element,
      field(t("templates.test.to"), to, { hint: t("templates.test.hint") }),
      h("div", { class: "form-actions" }, confirm, cancel),
    );
    const { close } = openDialog(main, { title: t("templates.test.title"), content: form, returnFocus: opener });
    cancel.addEventListener("click", close);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.clear();
      if (!filled(error, [[to, "field.to"]])) return;
      const address = to.value.trim();
      await busy(confirm, async () => {
        try {
          await ctx.gql(SEND_TEST, { id: tpl.id, to: address });
          close();
          message.show(t("templates.test.sent", { to: address }), "success");
        } catch (err) {
          error.showError(err);
          to.focus();
        }
      });
    });
    to.select();
  }

  async function activate(tpl) {
    message.clear();
    try {
      await ctx.gql(ACTIVATE, { id: tpl.id });
      await done(t("templates.activated", { name: tpl.name }), tpl.id);
    } catch (error) {
      message.showError(error);
    }
  }

  async function copy(tpl) {
    message.clear();
    try {
      const { copyEmailTemplate } = await ctx.gql(COPY, { id: tpl.id });
      await done(t("templates.copied", { name: copyEmailTemplate.name }), copyEmailTemplate.id);
    } catch (error) {
      message.showError(error);
    }
  }

  function remove(tpl, opener) {
    const confirm = button(t("templates.delete.confirm"), { kind: "danger" });
    const cancel = button(t("common.cancel"), { kind: "primary" });
    const error = messageBox();
    const { close } = openDialog(main, {
      title: t("templates.delete.title"),
      content: [error.element, h("p", {}, t("templates.delete.text", { name: tpl.name }))],
      actions: [confirm, cancel],
      returnFocus: opener,
    });
    cancel.addEventListener("click", close);
    confirm.addEventListener("click", () =>
      busy(confirm, async () => {
        try {
          await ctx.gql(DELETE, { id: tpl.id });
          close();
          await done(t("templates.deleted", { name: tpl.name }));
        } catch (err) {
          error.showError(err);
        }
      }),
    );
    cancel.focus();
  }

  const apply = () => {
    replaceQuery("/templates", { type: type.value, active: active.value, language: language.value });
    list.load(false);
  };
  for (const control of [type, active, language]) control.addEventListener("change", apply);

  const filters = h(
    "form",
    { class: "filters", role: "search", "aria-label": t("templates.filters"), onSubmit: (e) => { e.preventDefault(); apply(); } },
    field(t("templates.filter.type"), type),
    field(t("templates.filter.active"), active),
    field(t("templates.filter.language"), language),
  );
  main.append(pageHeader(t("templates.title")), filters, message.element, list.rows, list.footer);
  await list.load(false);
}
