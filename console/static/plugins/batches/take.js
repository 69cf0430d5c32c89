// 10.5 Take ownership: type the batch reference from the "New batch" email (and a label for the
// devices, if wanted). The reference works like a claim code: attempts are rate limited, and an
// unknown reference reads the same whether it exists for another organisation or not.

import { h, replace } from "../../core/dom.js";
import { errorMessage } from "../../core/graphql.js";
import { formatNumber, tn } from "../../core/i18n.js";
import { busy, button, field, input, messageBox, pageHeader } from "../../core/ui.js";
import { catalogLink } from "./common.js";

const TAKE = `mutation TakeOwnership($reference: String!, $label: String) {
  takeOwnership(batchReference: $reference, label: $label) { deviceCount batchReference { id reference label } } }`;

function takeError(t, error) {
  const ext = error?.extensions || {};
  if (error?.code === "BATCH_NOT_FOUND") return t("batches.take.notFound");
  if (error?.code === "RATE_LIMITED") {
    return t("batches.take.rateLimited", { minutes: formatNumber(Math.max(1, Math.ceil((ext.retryAfter || 60) / 60))) });
  }
  if (error?.code === "BAD_USER_INPUT" && ext.field === "label") return t("batches.invalid.label");
  return errorMessage(error);
}

export async function renderTakeOwnership(main, ctx) {
  const { t, href, query } = ctx;
  const message = messageBox();
  const result = h("div", { class: "take-result", "aria-live": "polite" });
  const reference = input({ name: "batchReference", required: true, autocomplete: "off", spellcheck: "false", value: query.get("reference") || "" });
  const label = input({ name: "label", maxlength: 100 });
  const save = button(t("common.save"), { kind: "primary", type: "submit" });

  const submit = async () => {
    message.clear();
    replace(result);
    reference.removeAttribute("aria-invalid");
    if (!reference.value.trim()) {
      reference.setAttribute("aria-invalid", "true");
      message.show(t("batches.missing.reference"), "error");
      reference.focus();
      return;
    }
    try {
      const { takeOwnership } = await ctx.gql(TAKE, { reference: reference.value.trim(), label: label.value.trim() || null });
      const batch = takeOwnership.batchReference;
      message.show(tn("batches.take.done", takeOwnership.deviceCount, { reference: batch.reference }), "success");
      replace(
        result,
        h(
          "ul",
          { class: "take-links" },
          h("li", {}, catalogLink(batch.reference, t("batches.take.showDevices"))),
          h("li", {}, h("a", { href: href(`/batches/${batch.id}`) }, t("batches.take.showBatch"))),
        ),
      );
      reference.value = "";
      label.value = "";
    } catch (error) {
      message.show(takeError(t, error), "error");
      if (error.code === "BATCH_NOT_FOUND") reference.setAttribute("aria-invalid", "true");
      (error.extensions?.field === "label" ? label : reference).focus();
    }
  };

  const form = h(
    "form",
    { class: "card take-form", novalidate: true, onSubmit: (e) => { e.preventDefault(); busy(save, submit); } },
    field(t("batches.field.reference"), reference, { hint: t("batches.take.referenceHint") }),
    field(t("batches.field.label"), label, { hint: t("batches.take.labelHint") }),
    h("div", { class: "form-actions" }, save),
  );
  main.append(pageHeader(t("batches.take.title")), h("p", { class: "lead" }, t("batches.take.intro")), message.element, result, form);
  reference.focus();
}
