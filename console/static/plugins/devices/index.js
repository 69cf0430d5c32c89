// Device catalog > Devices (manual 10.1-10.4): filters with counts, TOTAL DEVICES, keyset paging, row
// menus, and the selection actions "Claim devices", "Download keys", "Set labels" and "+ Create batch
// from current selection"; the device page (#/devices/:id) with key slots, "Verify key" and the device
// panels of device-type plugins. A VIEWER sees the list and the device page without actions.

import { renderCatalog } from "./catalog.js";
import { renderDevice } from "./device.js";
import messages from "./messages.js";

export default {
  id: "devices",
  messages,
  menu: [{ id: "devices", section: "catalog", label: "devices.menu", route: "/devices", requires: ["READ_CATALOG"], order: 10 }],
  routes: [
    { path: "/devices", title: "devices.title", requires: ["READ_CATALOG"], render: renderCatalog },
    { path: "/devices/:id", title: "devices.page.overview", requires: ["READ_CATALOG"], render: renderDevice },
  ],
};
