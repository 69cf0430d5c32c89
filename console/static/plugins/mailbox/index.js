// Developer tools > Demo mailbox: the mails the service wrote as files because no SMTP server is
// configured (`kms mailbox` prints the same). Platform administrators only: the one mailbox holds mails
// to every organisation. With SMTP configured there is no demo mailbox and the menu entry goes away
// once the console has asked the server (mailTransport).

import { gql } from "../../core/graphql.js";
import { session } from "../../core/session.js";
import { renderMail, renderMailbox, transport } from "./mailbox.js";
import messages from "./messages.js";

const requires = ["SEE_ALL_ORGANISATIONS"];
const roles = ["PLATFORM_ADMIN"];
const HIDDEN = ["DEMO_MAILBOX_IN_USE"]; // no role has it: the entry is hidden

const entry = {
  id: "mailbox",
  section: "developer",
  label: "mailbox.menu",
  route: "/mailbox",
  roles,
  order: 50,
  get requires() {
    return transport.value === "SMTP" ? HIDDEN : requires;
  },
};

// Ask once, on the first navigation of a platform administrator, whether mails go out by SMTP.
window.addEventListener("hashchange", () => {
  if (transport.value !== null || transport.asking || !session.loggedIn || session.user.mustChangePassword) return;
  if (!roles.some((role) => session.hasRole(role)) || !session.canAll(requires)) return;
  transport.asking = true;
  gql("query MailTransport { mailTransport }")
    .then(({ mailTransport }) => {
      transport.value = mailTransport;
      if (mailTransport === "SMTP") window.dispatchEvent(new HashChangeEvent("hashchange"));
    })
    .catch(() => {})
    .finally(() => {
      transport.asking = false;
    });
});

export default {
  id: "mailbox",
  messages,
  menu: [entry],
  routes: [
    { path: "/mailbox", title: "mailbox.title", requires, roles, render: renderMailbox },
    { path: "/mailbox/:id", title: "mailbox.mail.title", requires, roles, render: renderMail },
  ],
};
