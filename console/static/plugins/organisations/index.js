// Admin > Organisations (manual 9.6-9.8): the list with TOTAL ORGANISATIONS, adding and editing an
// organisation (with "Copy ID"), and the partners of the user's own organisation.

import { renderOrganisationForm } from "./form.js";
import { renderOrganisations } from "./list.js";
import messages from "./messages.js";
import { renderPartners } from "./partners.js";

const requires = ["MANAGE_ORGANISATIONS"];

export default {
  id: "organisations",
  messages,
  menu: [{ id: "organisations", section: "admin", label: "organisations.menu", route: "/organisations", requires, order: 20 }],
  routes: [
    { path: "/organisations", title: "organisations.title", requires, render: renderOrganisations },
    // Fixed paths before "/organisations/:id" (the first matching route wins).
    { path: "/organisations/new", title: "organisations.add.title", requires, render: renderOrganisationForm },
    { path: "/organisations/partners", title: "organisations.partners.title", requires, render: renderPartners },
    { path: "/organisations/:id", title: "organisations.edit.title", requires, render: renderOrganisationForm },
  ],
};
