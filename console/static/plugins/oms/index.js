// OMS / M-Bus devices: the identifiers panel on the device page (manufacturer code, M-Bus ID, version,
// medium), from the API's Device.identifiers as the Python plugin `oms` names them.

import { h } from "../../core/dom.js";
import messages from "./messages.js";

const FIELDS = ["manufacturer", "mbusId", "version", "medium"];

function render(container, device, ctx) {
  const { t } = ctx;
  const values = Object.fromEntries(device.identifiers.map((i) => [i.name, i.value]));
  const text = (name) => {
    const value = values[name];
    if (value === undefined || value === "") return t("common.none");
    if (name === "medium") {
      const medium = t(`oms.medium.${value}`);
      return medium.startsWith("oms.medium.") ? value : medium;
    }
    if (name === "version") return `${value} (0x${Number(value).toString(16).toUpperCase().padStart(2, "0")})`;
    return value;
  };
  container.append(
    h(
      "dl",
      { class: "facts identifiers" },
      FIELDS.flatMap((name) => [h("dt", {}, t(`oms.id.${name}`)), h("dd", { dataset: { identifier: name } }, text(name))]),
    ),
  );
}

export default {
  id: "oms",
  messages,
  devicePanels: [
    {
      id: "oms-identifiers",
      radio: ["WMBUS", "MBUS"],
      // M-Bus devices of other plugins name their identifiers differently: only OMS devices have an mbusId.
      when: (device) => device.identifiers.some((i) => i.name === "mbusId"),
      title: "oms.panel.title",
      order: 10,
      render,
    },
  ],
};
