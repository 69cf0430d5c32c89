// Logging in and out, the first-login password change, the user's own profile, and the public pages of
// email links: signup with an invitation, password reset and email confirmation.

import { redirect } from "../../core/router.js";
import { session } from "../../core/session.js";
import { renderLogin } from "./login.js";
import messages from "./messages.js";
import { renderConfirmEmail } from "./confirm.js";
import { renderChangePassword } from "./password.js";
import { renderProfile } from "./profile.js";
import { renderForgotPassword, renderResetPassword } from "./reset.js";
import { renderSignup } from "./signup.js";

async function logout(ctx) {
  try {
    await ctx.gql("mutation Logout { logout }");
  } catch {
    // the session may already be gone; the console forgets it either way
  }
  session.clear();
  ctx.flash(ctx.t("auth.loggedOut"), "info");
  redirect("/login");
}

export default {
  id: "auth",
  messages,
  menu: [
    { id: "profile", section: "account", label: "auth.profile.menu", route: "/profile", order: 10 },
    { id: "logout", section: "account", label: "auth.logout", action: logout, allowPending: true, order: 90 },
  ],
  routes: [
    { path: "/login", title: "auth.login.title", public: true, guestOnly: true, render: renderLogin },
    { path: "/change-password", title: "auth.password.title", allowPending: true, render: renderChangePassword },
    { path: "/profile", title: "auth.profile.title", render: renderProfile },
    // The pages behind email links (console/web.py EMAIL_LINK_PAGES) and the reset request: no session needed.
    { path: "/signup", title: "auth.signup.title", public: true, render: renderSignup },
    { path: "/forgot-password", title: "auth.forgot.title", public: true, render: renderForgotPassword },
    { path: "/reset-password", title: "auth.reset.title", public: true, render: renderResetPassword },
    { path: "/confirm-email", title: "auth.confirm.title", public: true, render: renderConfirmEmail },
  ],
};
