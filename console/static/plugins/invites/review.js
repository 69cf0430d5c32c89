// 9.4 / 9.5 The review page of an invite: state, signup link (Copy), roles, the template that will be used,
// PREVIEW EMAIL, the address to send to, SEND and CANCEL; after sending "We sent an email to ...".

import { h, replace } from "../../core/dom.js";
import { formatDateTime, LANGUAGE_NAMES } from "../../core/i18n.js";
import { actionForm, busy, button, confirmInPlace, field, filled, input, messageBox, pageHeader } from "../../core/ui.js";
import { stateBadge } from "./list.js";
import { emailBody } from "./preview.js";

const FIELDS = `id name email state roles language expiresAt sentAt createdAt signupLink
  organisation { id name } template { id name language }`;
const INVITE = `query Invite($id: ID!) { invite(id: $id) { ${FIELDS} } }`;
const PREVIEW = `query InvitePreview($id: ID!) { invite(id: $id) { id preview { subject html text } } }`;
const SEND = `mutation SendInvite($id: ID!, $email: String) { sendInvite(id: $id, email: $email) { id email state notice } }`;
const CANCEL = `mutation CancelInvite($id: ID!) { cancelInvite(id: $id) { id state } }`;
const OPEN = ["PREPARED", "SENT"];

export async function renderInvite(main, ctx) {
  const { t, params } = ctx;
  const { invite } = await ctx.gql(INVITE, { id: params.id });
  const back = h("a", { class: "btn btn-secondary", href: ctx.href("/invites") }, t("invites.review.back"));
  // a prepared invite can still be corrected; once sent, it is cancelled and prepared again
  const edit =
    invite?.state === "PREPARED"
      ? h("a", { class: "btn btn-secondary", href: ctx.href(`/invites/${invite.id}/edit`), dataset: { action: "edit-invite" } }, t("invites.edit.button"))
      : null;
  main.append(pageHeader(t("invites.review.title"), edit, back));
  if (!invite) {
    main.append(h("p", { class: "message message-error", role: "alert" }, t("error.NOT_FOUND")));
    return;
  }
  const open = OPEN.includes(invite.state);
  const message = messageBox();

  const facts = h(
    "dl",
    { class: "facts invite-facts" },
    h("dt", {}, t("field.name")), h("dd", { dataset: { fact: "name" } }, invite.name),
    h("dt", {}, t("field.organisationId")), h("dd", { dataset: { fact: "organisation" } }, invite.organisation.name),
    h("dt", {}, t("invites.col.state")), h("dd", { dataset: { fact: "state" } }, stateBadge(t, invite.state)),
    h("dt", {}, t("field.roles")), h("dd", { dataset: { fact: "roles" } }, invite.roles.map((r) => t(`role.${r}`)).join(", ")),
    h("dt", {}, t("field.userLanguage")), h("dd", { dataset: { fact: "language" } }, LANGUAGE_NAMES[invite.language]),
    h("dt", {}, t("invites.col.expires")), h("dd", { dataset: { fact: "expires" } }, formatDateTime(invite.expiresAt)),
    invite.sentAt ? [h("dt", {}, t("invites.review.sentAt")), h("dd", { dataset: { fact: "sentAt" } }, formatDateTime(invite.sentAt))] : null,
  );

  main.append(message.element, h("div", { class: "columns" }, h("section", { class: "card invite-review" }, facts, open ? linkBlock(ctx, invite) : null), sendBlock(ctx, invite, message)));
}

/** The signup link in a read-only field with a Copy button (the clipboard API, else the text is selected). */
function linkBlock(ctx, invite) {
  const { t } = ctx;
  const link = input({ name: "signupLink", value: invite.signupLink, readOnly: true, class: "signup-link" });
  const status = h("p", { class: "hint", role: "status", "aria-live": "polite" });
  const copyButton = button(t("invites.review.copy"), {
    dataset: { action: "copy-link" },
    onClick: async () => {
      try {
        await navigator.clipboard.writeText(invite.signupLink);
        status.textContent = t("invites.review.copied");
      } catch {
        link.focus();
        link.select();
        status.textContent = t("invites.review.copyManually");
      }
    },
  });
  link.addEventListener("focus", () => link.select());
  const wrap = field(t("invites.review.signupLink"), link, { hint: t("invites.review.linkHint") });
  wrap.append(h("div", { class: "form-actions" }, copyButton), status);
  return h("div", { class: "invite-link" }, wrap);
}

function sendBlock(ctx, invite, message) {
  const { t } = ctx;
  const open = OPEN.includes(invite.state);
  const previewArea = h("div", { class: "email-preview", hidden: true, id: `preview-${invite.id}`, role: "region", "aria-label": t("invites.review.previewLabel") });
  const previewButton = button(t("invites.review.preview"), { "aria-expanded": "false", "aria-controls": previewArea.id, dataset: { action: "preview" } });
  let loaded = false;
  previewButton.addEventListener("click", () =>
    busy(previewButton, async () => {
      if (!previewArea.hidden) {
        previewArea.hidden = true;
        previewButton.setAttribute("aria-expanded", "false");
        return;
      }
      if (!loaded) {
        replace(previewArea, h("p", { class: "progress" }, t("common.loading")));
        previewArea.hidden = false;
        try {
          const { invite: withPreview } = await ctx.gql(PREVIEW, { id: invite.id });
          const mail = withPreview.preview;
          replace(
            previewArea,
            h("p", { class: "email-subject" }, h("span", { class: "label" }, `${t("invites.review.subject")}: `), h("strong", { dataset: { fact: "subject" } }, mail.subject)),
            emailBody(mail.html),
            h("details", { class: "email-text" }, h("summary", {}, t("invites.review.textPart")), h("pre", {}, mail.text)),
          );
          loaded = true;
        } catch (error) {
          previewArea.hidden = true;
          message.showError(error);
          return;
        }
      }
      previewArea.hidden = false;
      previewButton.setAttribute("aria-expanded", "true");
    }),
  );

  const section = h(
    "section",
    { class: "card invite-send" },
    h("h2", {}, t("invites.review.email")),
    h("dl", { class: "facts" }, h("dt", {}, t("invites.review.template")), h("dd", { dataset: { fact: "template" } }, invite.template.name)),
    h("p", { class: "hint" }, t("invites.review.customise")),
    h("div", { class: "form-actions" }, previewButton),
    previewArea,
  );
  if (!open) {
    section.append(h("p", { class: "message message-info", dataset: { fact: "closed" } }, t(`invites.review.closed.${invite.state}`)));
    return section;
  }

  const email = input({ type: "email", name: "email", autocomplete: "off", value: invite.email || "" });
  const send = button(t(invite.state === "SENT" ? "invites.review.resend" : "invites.review.send"), { kind: "primary", type: "submit", dataset: { action: "send" } });
  const cancel = button(t("invites.review.cancel"), { dataset: { action: "cancel-invite" } });
  // Cancelling cannot be undone: ask first, as for removing a partner or deleting a template.
  cancel.addEventListener("click", () =>
    confirmInPlace(cancel, {
      label: t("invites.review.cancel"),
      question: t("invites.review.cancelQuestion"),
      yes: t("invites.review.cancelYes"),
      no: t("invites.review.keep"),
      yesData: { action: "confirm-cancel" },
      noData: { action: "keep-invite" },
      placeAfter: cancel.parentElement,
      action: async () => {
        message.clear();
        try {
          await ctx.gql(CANCEL, { id: invite.id });
          ctx.flash(t("invites.review.cancelled"), "info");
          ctx.rerender();
        } catch (error) {
          message.showError(error);
        }
      },
    }),
  );
  const form = actionForm(
    {
      class: "invite-send-form",
      submit: send,
      message,
      check: () => filled(message, [[email, "field.email"]]),
      action: async () => {
        const { sendInvite } = await ctx.gql(SEND, { id: invite.id, email: email.value.trim() });
        // The API's notice ("We sent an email to ...") is English; the console says it in the user's language.
        if (sendInvite.notice) ctx.flash(() => t("invites.review.sentTo", { email: sendInvite.email }));
        ctx.rerender();
      },
      onError: () => email.focus(),
    },
    field(t("invites.review.sendTo"), email),
    h("p", { class: "hint" }, t("invites.review.privacy")),
    h("div", { class: "form-actions" }, send, cancel),
  );
  section.append(form);
  return section;
}
