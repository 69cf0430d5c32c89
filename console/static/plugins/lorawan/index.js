// LoRaWAN devices: the identifiers panel on the device page (DevEUI, JoinEUI, LoRaWAN version), from the
// API's Device.identifiers as the Python plugin `lorawan` names them.

import { h } from "../../core/dom.js";
import messages from "./messages.js";

const FIELDS = ["devEui", "joinEui", "lorawanVersion"];

/** "70B3D5E75E000001" -> "70-B3-D5-E7-5E-00-00-01" for reading; the plain form stays selectable in <code>. */
function eui(value) {
  return h("code", { title: value }, value.match(/.{1,2}/g).join("-"));
}

function render(container, device, ctx) {
  const { t } = ctx;
  const values = Object.fromEntries(device.identifiers.map((i) => [i.name, i.value]));
  const text = (name) => {
    const value = values[name];
    if (value === undefined || value === "") return t("common.none");
    return name === "lorawanVersion" ? value : eui(value);
  };
  container.append(
    h(
      "dl",
      { class: "facts identifiers" },
      FIELDS.flatMap((name) => [h("dt", {}, t(`lorawan.id.${name}`)), h("dd", { dataset: { identifier: name, value: values[name] || "" } }, text(name))]),
    ),
  );
}

export default {
  id: "lorawan",
  messages,
  devicePanels: [
    {
      id: "lorawan-identifiers",
      radio: "LORAWAN",
      when: (device) => device.identifiers.some((i) => i.name === "devEui"),
      title: "lorawan.panel.title",
      order: 10,
      render,
    },
  ],
};
