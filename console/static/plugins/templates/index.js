// Admin > Email templates (manual 9.9): the list with its row menu, and the template editor.

import { renderEditTemplate } from "./edit.js";
import { renderTemplates } from "./list.js";
import messages from "./messages.js";

const requires = ["MANAGE_TEMPLATES"];

export default {
  id: "templates",
  messages,
  menu: [{ id: "templates", section: "admin", label: "templates.menu", route: "/templates", requires, order: 40 }],
  routes: [
    { path: "/templates", title: "templates.title", requires, render: renderTemplates },
    { path: "/templates/:id/edit", title: "templates.edit.title", requires, render: renderEditTemplate },
  ],
};
