// The device page (#/devices/:id): serial number, type, owner, claim status, labels, batch reference,
// the key slots (algorithm, check value, date; never the key), "Verify key" with a captured frame, and
// the panels device-type plugins register (core/registry.js devicePanels, e.g. OMS or LoRaWAN identifiers).

import { h, replace } from "../../core/dom.js";
import { formatDate, formatDateTime, tn } from "../../core/i18n.js";
import { devicePanelsFor } from "../../core/registry.js";
import { busy, button, field, messageBox, pageHeader, table } from "../../core/ui.js";
import { claim } from "./actions.js";

const DEVICE = `query Device($id: ID!) { device(id: $id) {
  id serialNumber claimStatus claimedAt createdAt
  deviceType { id name product radio } owner { id name } labels identifiers { name value }
  keys { keyType algorithm checkValue createdAt } batchReference { id reference } } }`;
const VERIFY = `query VerifyDeviceKey($id: ID!, $frame: String!) {
  verifyDeviceKey(deviceId: $id, frame: $frame) { ok keyType method detail } }`;

function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(Boolean).flatMap(([key, term, value]) => [h("dt", {}, term), h("dd", { dataset: { fact: key } }, value)]),
  );
}

/** The outcome of verifyDeviceKey: match, no match, or the API error's message with its code. */
function verification(t, result, error, errorText) {
  if (error) {
    return h(
      "div",
      { class: "verify-result verify-error", role: "alert", dataset: { result: "error", code: error.code } },
      h("p", { class: "verify-title" }, t("devices.verify.error")),
      h("p", {}, errorText, " ", h("code", {}, error.code)),
    );
  }
  const kind = result.ok ? "match" : "no-match";
  return h(
    "div",
    { class: `verify-result verify-${kind}`, role: "status", dataset: { result: kind } },
    h("p", { class: "verify-title" }, t(result.ok ? "devices.verify.match" : "devices.verify.noMatch", { slot: result.keyType || "–" })),
    h("p", { class: "hint" }, t("devices.verify.method", { method: result.method }), " · ", result.detail),
  );
}

export async function renderDevice(main, ctx) {
  const { t, session, params } = ctx;
  const message = messageBox();
  const { device } = await ctx.gql(DEVICE, { id: params.id });
  const back = h("a", { href: ctx.href("/devices"), class: "back" }, t("devices.page.back"));
  const status = h(
    "span",
    { class: `badge badge-${device.claimStatus.toLowerCase()}`, dataset: { status: device.claimStatus } },
    t(`devices.status.${device.claimStatus}`),
  );
  const claimButton =
    session.can("CLAIM_DEVICES") && device.claimStatus === "UNCLAIMED"
      ? button(t("devices.menu.claim"), { kind: "primary", dataset: { action: "claim" } })
      : null;
  claimButton?.addEventListener("click", () =>
    busy(claimButton, async () => {
      try {
        const result = await claim(ctx, [device.id]);
        if (result.claimedCount) {
          ctx.flash(() => tn("devices.claimed", 1));
          ctx.rerender();
        } else {
          message.show(t(`devices.reason.${result.refused[0]?.reason}`), "error");
        }
      } catch (error) {
        message.showError(error);
      }
    }),
  );

  const overview = h(
    "section",
    { class: "card device-overview", "aria-labelledby": "device-overview" },
    h("h2", { id: "device-overview" }, t("devices.page.overview")),
    facts([
      ["serial", t("devices.col.serial"), device.serialNumber],
      ["type", t("devices.col.type"), device.deviceType.name],
      ["product", t("devices.page.product"), device.deviceType.product],
      ["radio", t("devices.page.radio"), t(`devices.radio.${device.deviceType.radio}`)],
      ["owner", t("devices.page.owner"), device.owner.name],
      ["status", t("devices.col.status"), status],
      ["claimedAt", t("devices.page.claimedAt"), formatDateTime(device.claimedAt)],
      ["labels", t("devices.col.labels"), device.labels.length ? device.labels.join(", ") : t("common.none")],
      ["batch", t("devices.col.batch"), device.batchReference?.reference || t("common.none")],
      ["createdAt", t("devices.page.createdAt"), formatDate(device.createdAt)],
    ]),
  );

  const keys = h(
    "section",
    { class: "card device-keys", "aria-labelledby": "device-keys" },
    h("h2", { id: "device-keys" }, t("devices.page.keys")),
    h("p", { class: "hint" }, t("devices.page.keysHint")),
    h(
      "div",
      { class: "table-wrap" },
      table(
        [
          { label: t("devices.key.slot"), cell: (k) => k.keyType },
          { label: t("devices.key.algorithm"), cell: (k) => k.algorithm },
          { label: t("devices.key.checkValue"), cell: (k) => h("code", { dataset: { kcv: k.keyType } }, k.checkValue.toUpperCase()) },
          { label: t("devices.key.created"), cell: (k) => formatDateTime(k.createdAt) },
        ],
        device.keys,
        { caption: t("devices.page.keys"), rowAttrs: (k) => ({ dataset: { slot: k.keyType } }) },
      ),
    ),
  );

  let verify = null;
  if (session.can("RELEASE_KEYS")) {
    const frame = h("textarea", { name: "frame", rows: 3, class: "frame-input", spellcheck: "false", required: true });
    const run = button(t("devices.verify.run"), { kind: "primary", type: "submit" });
    const outcome = h("div", { class: "verify-outcome", "aria-live": "polite" });
    verify = h(
      "form",
      {
        class: "card verify-form",
        "aria-labelledby": "device-verify",
        onSubmit: (e) => {
          e.preventDefault();
          busy(run, async () => {
            replace(outcome, h("p", { class: "progress", role: "status" }, t("devices.verify.running")));
            const hex = frame.value.replace(/\s+/g, "");
            try {
              const { verifyDeviceKey } = await ctx.gql(VERIFY, { id: device.id, frame: hex });
              replace(outcome, verification(t, verifyDeviceKey));
            } catch (error) {
              replace(outcome, verification(t, null, error, ctx.showError(error)));
            }
          });
        },
      },
      h("h2", { id: "device-verify" }, t("devices.verify.title")),
      field(t("devices.verify.frame"), frame, { hint: t("devices.verify.hint") }),
      h("div", { class: "form-actions" }, run),
      outcome,
    );
  }

  const panels = devicePanelsFor(device, session).map((panel) => {
    const body = h("div", { class: "panel-body" });
    const id = `panel-${panel.plugin}-${panel.id}`.replace(/[^A-Za-z0-9_-]/g, "-");
    const section = h(
      "section",
      { class: "card device-panel", "aria-labelledby": id, dataset: { panel: panel.id, plugin: panel.plugin } },
      h("h2", { id }, t(panel.title)),
      body,
    );
    try {
      const done = panel.render(body, device, ctx);
      if (done && typeof done.catch === "function") done.catch((error) => replace(body, h("p", { class: "message message-error" }, ctx.showError(error))));
    } catch (error) {
      console.warn(`Device panel ${panel.id} failed:`, error);
      replace(body, h("p", { class: "message message-error" }, t("devices.panel.failed")));
    }
    return section;
  });

  main.append(
    back,
    pageHeader(t("devices.page.title", { serial: device.serialNumber }), claimButton),
    message.element,
    h("div", { class: "columns" }, overview, panels),
    keys,
    verify,
  );
}
