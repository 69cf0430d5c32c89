// Admin > Invites (manual 9.4, 9.5): the list of invites, preparing one, and its review page with the signup
// link, the email preview, SEND and CANCEL.

import { renderAddInvite } from "./add.js";
import { renderInvites } from "./list.js";
import messages from "./messages.js";
import { renderInvite } from "./review.js";

const requires = ["MANAGE_USERS"];

export default {
  id: "invites",
  messages,
  menu: [{ id: "invites", section: "admin", label: "invites.menu", route: "/invites", requires, order: 15 }],
  routes: [
    { path: "/invites", title: "invites.title", requires, render: renderInvites },
    { path: "/invites/new", title: "invites.add.title", requires, render: renderAddInvite },
    { path: "/invites/:id/edit", title: "invites.edit.title", requires, render: renderAddInvite },
    { path: "/invites/:id", title: "invites.review.title", requires, render: renderInvite },
  ],
};
