// Device catalog > Batch references (manual 10.5-10.7): the list and a batch's page, creating a
// batch reference (typed, pasted or uploaded serial numbers) and taking ownership of a batch.

import { renderCreateBatch } from "./create.js";
import { renderBatch } from "./detail.js";
import { renderBatches } from "./list.js";
import messages from "./messages.js";
import { renderTakeOwnership } from "./take.js";

export default {
  id: "batches",
  messages,
  menu: [
    { id: "batches", section: "catalog", label: "batches.menu", route: "/batches", requires: ["READ_CATALOG"], order: 20 },
    // the manual's sidebar (10.1) lists "Create batch reference" beside the list
    { id: "create-batch", section: "catalog", label: "batches.create.menu", route: "/batches/new", requires: ["MANAGE_BATCHES"], order: 25 },
    { id: "take-ownership", section: "catalog", label: "batches.take.menu", route: "/take-ownership", requires: ["CLAIM_DEVICES"], order: 30 },
  ],
  routes: [
    { path: "/batches", title: "batches.title", requires: ["READ_CATALOG"], render: renderBatches },
    // before /batches/:id, which would match "new" too
    { path: "/batches/new", title: "batches.create.title", requires: ["MANAGE_BATCHES"], render: renderCreateBatch },
    { path: "/batches/:id", title: "batches.batch.title", requires: ["READ_CATALOG"], render: renderBatch },
    { path: "/take-ownership", title: "batches.take.title", requires: ["CLAIM_DEVICES"], render: renderTakeOwnership },
  ],
};
