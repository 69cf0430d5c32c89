// 9.9.5 Edit an email template: name, language, subject, the HTML body in the rich-text editor, the
// placeholders of the template's type (a click inserts {{ name }} where the cursor was, in the subject
// or the body), Save (TEMPLATE_INVALID is shown next to the editor with the server's explanation), the
// plain-text part the service derives from the body, and Preview. System templates are not editable:
// the page offers "Create copy" instead.

import { h, replace } from "../../core/dom.js";
import { LANGUAGES } from "../../core/i18n.js";
import { busy, button, field, filled, input, messageBox, pageHeader, select } from "../../core/ui.js";
import { richTextEditor } from "./editor.js";
import { COPY, showApiError, showPreview } from "./list.js";

const TEMPLATE = `query EmailTemplateForEdit($id: ID!) {
  emailTemplate(id: $id) { id name type language subject body isSystem
    placeholders { name description } preview { text } } }`;
const UPDATE = `mutation UpdateEmailTemplate($id: ID!, $input: UpdateEmailTemplateInput!) {
  updateEmailTemplate(id: $id, input: $input) { id name language subject body preview { text } } }`;

export async function renderEditTemplate(main, ctx) {
  const { t } = ctx;
  const { emailTemplate: tpl } = await ctx.gql(TEMPLATE, { id: ctx.params.id });
  const back = h("a", { class: "btn btn-secondary", href: ctx.href("/templates") }, t("templates.back"));
  if (tpl.isSystem) {
    const message = messageBox();
    const copy = button(t("templates.action.copy"), { kind: "primary", dataset: { action: "copy" } });
    copy.addEventListener("click", () =>
      busy(copy, async () => {
        try {
          const { copyEmailTemplate } = await ctx.gql(COPY, { id: tpl.id });
          ctx.flash(t("templates.copied", { name: copyEmailTemplate.name }));
          ctx.navigate(`/templates/${encodeURIComponent(copyEmailTemplate.id)}/edit`);
        } catch (error) {
          message.showError(error);
        }
      }),
    );
    main.append(pageHeader(t("templates.edit.title"), back), message.element, h("p", { class: "message message-info" }, t("templates.edit.system", { name: tpl.name })), copy);
    return;
  }

  const name = input({ name: "name", value: tpl.name, required: true, autocomplete: "off" });
  const language = select(LANGUAGES.map((v) => ({ value: v, label: t(`templates.language.${v}`) })), { name: "language", value: tpl.language });
  const subject = input({ name: "subject", value: tpl.subject, required: true, autocomplete: "off" });
  const editor = richTextEditor(t("templates.edit.body"), tpl.body);
  const editorMessage = messageBox();
  editorMessage.element.setAttribute("tabindex", "-1");
  const textPart = h("pre", { class: "mail-text", dataset: { part: "text" }, tabindex: "0", "aria-labelledby": "text-part-title" }, tpl.preview.text);
  let lastTarget = editor.area;
  subject.addEventListener("focus", () => (lastTarget = subject));
  editor.area.addEventListener("focus", () => (lastTarget = editor.area));

  const insert = (placeholder) => {
    const text = `{{ ${placeholder} }}`;
    if (lastTarget === subject) {
      subject.focus();
      subject.setRangeText(text, subject.selectionStart ?? subject.value.length, subject.selectionEnd ?? subject.value.length, "end");
    } else {
      editor.insertText(text);
    }
  };
  const placeholders = h(
    "section",
    { class: "card placeholders", "aria-labelledby": "placeholders-title" },
    h("h2", { id: "placeholders-title" }, t("templates.edit.placeholders")),
    h("p", { class: "hint" }, t("templates.edit.placeholdersHint")),
    h(
      "ul",
      {},
      tpl.placeholders.map((p) =>
        h(
          "li",
          {},
          h("button", { type: "button", class: "btn btn-secondary placeholder", dataset: { placeholder: p.name }, onClick: () => insert(p.name), "aria-describedby": `ph-${p.name}` }, `{{ ${p.name} }}`),
          h("span", { class: "hint", id: `ph-${p.name}` }, placeholderText(t, tpl.type, p)),
        ),
      ),
    ),
  );
  // Keep the cursor where it was while a placeholder button is pressed.
  placeholders.addEventListener("mousedown", (event) => {
    if (event.target.closest("button.placeholder")) event.preventDefault();
  });

  const save = button(t("common.save"), { kind: "primary", type: "submit" });
  const previewButton = button(t("templates.action.preview"), { dataset: { action: "preview" } });
  previewButton.addEventListener("click", async () => {
    editorMessage.clear();
    if (editor.dirty() || subject.value !== tpl.subject) editorMessage.show(t("templates.edit.previewSaved"), "info");
    try {
      await showPreview(ctx, main, tpl, previewButton);
    } catch (error) {
      showApiError(ctx, editorMessage, error);
    }
  });

  const form = h(
    "form",
    {
      class: "card template-form",
      novalidate: true,
      onSubmit: async (event) => {
        event.preventDefault();
        editorMessage.clear();
        if (!filled(editorMessage, [[name, "field.name"], [subject, "field.subject"]])) return;
        const changes = { name: name.value.trim(), language: language.value, subject: subject.value };
        // An untouched body is not sent, so the stored HTML (with its styles) stays as it is.
        if (editor.dirty()) changes.body = editor.html();
        await busy(save, async () => {
          try {
            const { updateEmailTemplate: saved } = await ctx.gql(UPDATE, { id: tpl.id, input: changes });
            Object.assign(tpl, saved);
            editor.setHtml(saved.body);
            subject.value = saved.subject;
            replace(textPart, saved.preview.text);
            editorMessage.show(t("templates.edit.saved", { name: saved.name }), "success");
          } catch (error) {
            showApiError(ctx, editorMessage, error);
            editorMessage.element.focus();
          }
        });
      },
    },
    field(t("field.name"), name),
    h("dl", { class: "facts" }, h("dt", {}, t("templates.col.type")), h("dd", { dataset: { type: tpl.type } }, t(`templates.type.${tpl.type}`))),
    field(t("templates.col.language"), language),
    field(t("field.subject"), subject),
    editor.element,
    h("div", { class: "editor-message", dataset: { for: "body" } }, editorMessage.element),
    h("div", { class: "form-actions" }, save, previewButton),
  );
  main.append(
    pageHeader(t("templates.edit.title"), back),
    h("div", { class: "template-edit" }, form, h("div", { class: "template-side" }, placeholders)),
    h("section", { class: "card text-part" }, h("h2", { id: "text-part-title" }, t("templates.edit.textPart")), h("p", { class: "hint" }, t("templates.edit.textPartHint")), textPart),
  );
  name.focus();
}

/** The placeholder's description in the user's language (the API's English text for one we don't know). */
function placeholderText(t, type, placeholder) {
  const key = `templates.placeholder.${type}.${placeholder.name}`;
  const text = t(key);
  return text === key ? placeholder.description : text;
}
