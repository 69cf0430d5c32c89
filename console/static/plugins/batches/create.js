// 10.7 Create a batch reference: serial numbers typed or pasted (comma, semicolon, whitespace or
// newline separated), one per "ADD DEVICE" row, or from a .txt/.csv file sent as a GraphQL multipart
// upload with its progress shown; addressed to the caller's organisation, one below it or a partner.
// All or nothing: unknown serial numbers are listed and no batch is created.

import { h, replace, uid } from "../../core/dom.js";
import { errorMessage, gqlUpload } from "../../core/graphql.js";
import { formatNumber, tn } from "../../core/i18n.js";
import { busy, button, checkbox, field, input, messageBox, pageHeader } from "../../core/ui.js";

const CREATE = `mutation CreateBatchReference($input: CreateBatchReferenceInput!) {
  createBatchReference(input: $input) {
    batchReference { id reference state deviceCount organisation { id name } } refused { serialNumber reason } } }`;
const TARGETS = `query BatchTargets($me: ID!, $name: String) {
  organisations(name: $name, first: 500) { nodes { id name } pageInfo { hasNextPage } }
  organisation(id: $me) { partners { id name } } }`;
const MAX_FILE_BYTES = 4 * 1024 * 1024; // resolvers/batches.py MAX_UPLOAD_BYTES
const SEPARATORS = /[,;\s]+/; // resolvers/batches.py parse_serials
const FILE_TYPES = [".txt", ".csv"];
const FIELDS = ["reference", "label", "serialNumbers", "organisationId"];

/** 21 byte, 3.5 kB, 1.2 MB in the user's language. */
function fileSize(bytes) {
  if (bytes < 1024) return formatNumber(bytes, { style: "unit", unit: "byte", unitDisplay: "short" });
  const [value, unit] = bytes < 1024 * 1024 ? [bytes / 1024, "kilobyte"] : [bytes / 1024 / 1024, "megabyte"];
  return formatNumber(value, { style: "unit", unit, unitDisplay: "short", maximumFractionDigits: 1 });
}

export function parseSerials(text) {
  return [...new Set(text.split(SEPARATORS).filter(Boolean))];
}

/** A sentence for the errors this form can meet; anything else as everywhere in the console. */
function createError(t, error) {
  const ext = error?.extensions || {};
  if (ext.reason) return errorMessage(error);
  if (error?.code === "BAD_USER_INPUT" && FIELDS.includes(ext.field)) return t(`batches.invalid.${ext.field}`);
  if (error?.code === "FILE_TOO_LARGE") return t("batches.error.FILE_TOO_LARGE", { size: formatNumber(MAX_FILE_BYTES / 1024 / 1024) });
  if (error?.code === "DEVICE_NOT_FOUND") return tn("batches.error.DEVICE_NOT_FOUND", ext.refusedCount || 1);
  if (["FILE_UNSUPPORTED", "BATCH_REFERENCE_TAKEN"].includes(error?.code)) return t(`batches.error.${error.code}`);
  return errorMessage(error);
}

/** Unknown serial numbers, one per line (the API names up to 1000 and counts all). */
function refusedSerials(t, error) {
  const serials = error?.extensions?.serialNumbers || [];
  if (!serials.length) return null;
  const more = (error.extensions.refusedCount || serials.length) - serials.length;
  return h(
    "div",
    { class: "refused", dataset: { refused: String(error.extensions.refusedCount || serials.length) } },
    h("p", {}, tn("batches.refused.title", error.extensions.refusedCount || serials.length)),
    h(
      "ul",
      {},
      serials.map((serial) =>
        h("li", { dataset: { serial } }, h("strong", {}, serial), ": ", t(error.extensions.reason === "BATCH_PENDING" ? "batches.refused.waiting" : "batches.refused.unknown")),
      ),
      more > 0 ? h("li", {}, tn("batches.refused.more", more)) : null,
    ),
  );
}

/** The organisations a batch may go to: { own, others, partners, more } (more: over 500, ask by name). */
async function organisationTargets(ctx, name = null) {
  const me = ctx.session.user.organisation;
  const { organisations, organisation } = await ctx.gql(TARGETS, { me: me.id, name });
  const others = organisations.nodes.filter((o) => o.id !== me.id).sort((a, b) => a.name.localeCompare(b.name));
  const partners = (organisation?.partners || []).filter((p) => !organisations.nodes.some((o) => o.id === p.id));
  return { me, others, partners, more: organisations.pageInfo.hasNextPage };
}

/** The dropdown's options for `targets`, those whose name holds `needle` (the manual's selection bar). */
function organisationOptions(t, targets, needle, current) {
  const match = (o) => !needle || o.name.toLowerCase().includes(needle) || o.id === current;
  const others = targets.others.filter(match);
  const partners = targets.partners.filter(match);
  const { me } = targets;
  return [
    h("option", { value: "" }, t("batches.field.organisationChoose")),
    match(me) ? h("option", { value: me.id, selected: me.id === current }, t("batches.field.organisationOwn", { name: me.name })) : null,
    others.length
      ? h("optgroup", { label: t("batches.field.organisationOthers") }, others.map((o) => h("option", { value: o.id, selected: o.id === current }, o.name)))
      : null,
    partners.length
      ? h("optgroup", { label: t("batches.field.organisationPartners") }, partners.map((o) => h("option", { value: o.id, selected: o.id === current }, o.name)))
      : null,
  ];
}

export async function renderCreateBatch(main, ctx) {
  const { t, href } = ctx;
  const message = messageBox();
  const details = h("div", { class: "action-details" });
  const reference = input({ name: "reference", required: true, maxlength: 100, autocomplete: "off" });
  const serials = h("textarea", { name: "serialNumbers", rows: 4, spellcheck: "false" });
  const typedCount = h("p", { class: "hint", "aria-live": "polite", dataset: { typed: "0" } });
  const addDevice = button(t("batches.addDevice"), { dataset: { action: "add-device" } });
  // The manual's 10.7: ADD DEVICE moves what was typed into the SERIAL NUMBER list below, with its count.
  const added = new Set();
  const listBody = h("tbody");
  const listCount = h("p", { class: "serial-count", "aria-live": "polite", dataset: { count: "0" } });
  const list = h(
    "section",
    { class: "serial-list", "aria-label": t("batches.list.title") },
    h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("batches.col.serial")), h("th", { scope: "col" }))), listBody),
    listCount,
  );
  // The browser's own file button speaks the browser's language; a label styled as a button speaks
  // the user's. The input stays focusable (visually hidden), so Tab and Space still open the chooser.
  const file = h("input", {
    type: "file",
    name: "file",
    id: uid("file"),
    class: "file-input",
    accept: ".txt,.csv,text/plain,text/csv",
  });
  const fileHint = h("p", { class: "hint", id: `${file.id}-hint` }, t("batches.field.fileHint"));
  const fileInfo = h("span", { class: "file-info", id: `${file.id}-info`, "aria-live": "polite" }, t("batches.file.none"));
  file.setAttribute("aria-describedby", `${fileInfo.id} ${fileHint.id}`);
  const removeFile = button(t("batches.file.remove"), { hidden: true });
  const progress = h("progress", { max: 100, value: 0 });
  const progressText = h("span", { class: "upload-percent", "aria-hidden": "true" });
  const progressField = field(t("batches.upload.progress"), progress, { className: "upload-progress" });
  progressField.append(progressText);
  progressField.hidden = true;
  const confirmation = checkbox(t("batches.field.confirmation"), { name: "requiresConfirmation" });
  const label = input({ name: "label", maxlength: 100 });
  const organisation = h("select", { name: "organisationId", required: true });
  // "you have the selection bar to facilitate your navigation" (manual 10.7): it narrows the dropdown
  const organisationSearch = input({ type: "search", name: "organisationSearch", autocomplete: "off", "aria-label": t("batches.field.organisationSearch"), placeholder: t("batches.field.organisationSearch") });
  let targets = null;
  let targetsRequest = 0;
  const showTargets = async () => {
    const needle = organisationSearch.value.trim().toLowerCase();
    const request = ++targetsRequest;
    // over 500 organisations the server looks the name up; fewer are all here already
    const found = targets?.more && needle ? await organisationTargets(ctx, needle) : targets;
    if (request !== targetsRequest || !found) return;
    replace(organisation, organisationOptions(t, found, needle, organisation.value));
  };
  let searchTimer = null;
  organisationSearch.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => showTargets().catch((error) => message.showError(error)), 200);
  });
  organisationSearch.addEventListener("keydown", (e) => { if (e.key === "Enter") e.preventDefault(); });
  const save = button(t("common.save"), { kind: "primary", type: "submit" });
  // Everything that goes into the batch: the list, and what is still typed in the field.
  const serialList = () => [...new Set([...added, ...parseSerials(serials.value)])];
  const updateCount = () => {
    const count = serialList().length;
    typedCount.dataset.typed = String(count);
    replace(typedCount, tn("batches.typed", count));
  };
  serials.addEventListener("input", updateCount);

  const LIST_SHOWN = 200; // a pasted list of 100,000 is counted, not drawn
  const renderList = () => {
    const shown = [...added].slice(0, LIST_SHOWN);
    replace(
      listBody,
      shown.map((serial) =>
        h(
          "tr",
          { dataset: { serial } },
          h("td", {}, serial),
          h(
            "td",
            { class: "remove" },
            button(t("batches.removeDevice"), {
              "aria-label": t("batches.removeDeviceNamed", { serial }),
              onClick: () => {
                added.delete(serial);
                renderList();
                updateCount();
                addDevice.focus();
              },
            }),
          ),
        ),
      ),
      added.size > LIST_SHOWN ? h("tr", {}, h("td", { colspan: 2 }, tn("batches.refused.more", added.size - LIST_SHOWN))) : null,
      added.size ? null : h("tr", {}, h("td", { colspan: 2, class: "hint" }, t("batches.list.empty"))),
    );
    listCount.dataset.count = String(added.size);
    replace(listCount, formatNumber(added.size));
  };

  addDevice.addEventListener("click", () => {
    const typed = parseSerials(serials.value);
    if (!typed.length) {
      serials.setAttribute("aria-invalid", "true");
      message.show(t("batches.missing.typed"), "error");
      serials.focus();
      return;
    }
    serials.removeAttribute("aria-invalid");
    message.clear();
    for (const serial of typed) added.add(serial);
    serials.value = "";
    renderList();
    updateCount();
    serials.focus();
  });

  const setProgress = (loaded, totalBytes) => {
    const percent = totalBytes ? Math.round((loaded / totalBytes) * 100) : 0;
    progress.value = percent;
    replace(progressText, formatNumber(percent / 100, { style: "percent" }));
  };
  const checkFile = () => {
    const chosen = file.files[0];
    if (!chosen) return null;
    if (!FILE_TYPES.some((ext) => chosen.name.toLowerCase().endsWith(ext))) return "FILE_UNSUPPORTED";
    if (chosen.size > MAX_FILE_BYTES) return "FILE_TOO_LARGE";
    return null;
  };
  file.addEventListener("change", () => {
    const chosen = file.files[0];
    progressField.hidden = true;
    setProgress(0, 0);
    removeFile.hidden = !chosen;
    replace(fileInfo, chosen ? t("batches.file.chosen", { name: chosen.name, size: fileSize(chosen.size) }) : t("batches.file.none"));
    const problem = checkFile();
    if (problem) message.show(createError(t, { code: problem }), "error");
    else message.clear();
  });
  removeFile.addEventListener("click", () => {
    file.value = "";
    file.dispatchEvent(new Event("change"));
    file.focus();
  });

  const invalid = (control, text) => {
    control.setAttribute("aria-invalid", "true");
    message.show(text, "error");
    control.focus();
  };

  const submit = async () => {
    message.clear();
    replace(details);
    for (const control of [reference, serials, organisation, label, file]) control.removeAttribute("aria-invalid");
    const chosen = file.files[0] || null;
    const typed = serialList();
    if (!reference.value.trim()) return invalid(reference, t("batches.missing.reference"));
    if (!typed.length && !chosen) return invalid(serials, t("batches.missing.serials"));
    if (!organisation.value) return invalid(organisation, t("batches.missing.organisation"));
    const problem = checkFile();
    if (problem) return invalid(file, createError(t, { code: problem }));
    const variables = {
      input: {
        reference: reference.value.trim(),
        organisationId: organisation.value,
        serialNumbers: typed.length ? typed : null,
        requiresConfirmation: confirmation.querySelector("input").checked,
        label: label.value.trim() || null,
        file: null,
      },
    };
    try {
      let data;
      if (chosen) {
        progressField.hidden = false;
        setProgress(0, chosen.size);
        data = await gqlUpload(CREATE, variables, { "input.file": chosen }, { onProgress: setProgress }).finally(() => {
          setProgress(1, 1); // the server has answered, so the whole file was sent
        });
      } else {
        data = await ctx.gql(CREATE, variables);
      }
      const batch = data.createBatchReference.batchReference;
      const params = { reference: batch.reference, organisation: batch.organisation.name, count: formatNumber(batch.deviceCount) };
      ctx.flash(() => t(batch.state === "PENDING_CONFIRMATION" ? "batches.created.pending" : "batches.created.delivered", params));
      ctx.navigate(`/batches/${batch.id}`);
    } catch (error) {
      if (error.code === "NETWORK") progressField.hidden = true;
      message.show(createError(t, error), "error");
      replace(details, refusedSerials(t, error));
      const target = { reference, label, organisationId: organisation, serialNumbers: serials }[error.extensions?.field];
      if (error.code === "BATCH_REFERENCE_TAKEN") reference.setAttribute("aria-invalid", "true");
      if (error.code === "FILE_TOO_LARGE" || error.code === "FILE_UNSUPPORTED") file.setAttribute("aria-invalid", "true");
      target?.setAttribute("aria-invalid", "true");
    }
  };

  const form = h(
    "form",
    { class: "card batch-create", novalidate: true, onSubmit: (e) => { e.preventDefault(); busy(save, submit); } },
    field(t("batches.field.reference"), reference, { hint: t("batches.field.referenceHint") }),
    field(t("batches.field.serials"), serials, { hint: t("batches.field.serialsHint") }),
    typedCount,
    h("div", { class: "form-actions" }, addDevice),
    h(
      "div",
      { class: "field file-field" },
      h("div", { class: "file-choice" }, file, h("label", { for: file.id, class: "btn btn-secondary" }, t("batches.field.file")), fileInfo, removeFile),
      fileHint,
    ),
    progressField,
    confirmation,
    field(t("batches.field.label"), label),
    h("div", { class: "organisation-choice" }, organisationSearch, field(t("batches.field.organisation"), organisation, { hint: t("batches.field.organisationHint") })),
    h("div", { class: "form-actions" }, save, h("a", { href: href("/batches") }, t("common.cancel"))),
    list,
  );
  main.append(pageHeader(t("batches.create.title")), message.element, details, form);
  renderList();
  updateCount();
  reference.focus();
  try {
    targets = await organisationTargets(ctx);
    await showTargets();
  } catch (error) {
    message.showError(error);
  }
}
