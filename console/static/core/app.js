// The console shell: loads the session, builds the menu from the registered plugins, and renders
// the route of the current hash into <main>. Plugins never touch this file; they register.

import { h, replace } from "./dom.js";
import { ApiError, errorMessage, gql, onApiError } from "./graphql.js";
import { addMessages, initialLanguage, onLanguageChange, setLanguage, t } from "./i18n.js";
import coreMessages from "./messages.js";
import { allRoutes, menuFor, permitted, registerPlugin, SECTIONS } from "./registry.js";
import { currentLocation, href, match, navigate, onRouteChange, redirect } from "./router.js";
import { session } from "./session.js";

let root;
let flash = null;
let renderCount = 0;

/** A message shown once at the top of the next screen ("User saved."): a text, or a function giving
 * it, evaluated when shown (so a language change in between is respected). */
export function flashMessage(text, kind = "success") {
  flash = { text, kind };
}

/** Reload `me` (after a profile or password change) and apply the account's language. */
export async function refreshSession() {
  const user = await session.load();
  if (user) setLanguage(user.language);
  return user;
}

export async function start(plugins) {
  root = document.getElementById("app");
  addMessages(coreMessages);
  for (const plugin of plugins) registerPlugin(plugin);
  setLanguage(initialLanguage());
  onApiError((error) => {
    if (error.code === "UNAUTHENTICATED" && session.loggedIn) {
      session.clear();
      flashMessage(errorMessage(error), "error");
      redirect("/login", { next: wantedRoute() });
    } else if (error.code === "PASSWORD_CHANGE_REQUIRED" && session.loggedIn) {
      redirect("/change-password");
    }
  });
  try {
    await refreshSession();
  } catch (error) {
    replace(root, h("main", { id: "main", class: "boot-error" }, h("h1", {}, t("app.bootFailed")), h("p", { role: "alert" }, errorMessage(error))));
    root.removeAttribute("aria-busy");
    return;
  }
  onRouteChange(render);
  onLanguageChange(() => render(currentLocation()));
  await render(currentLocation());
  root.removeAttribute("aria-busy");
}

/** The first screen of this user's menu (the device catalog for most). */
export function homePath() {
  const menu = menuFor(session);
  for (const section of SECTIONS) {
    const entry = (menu[section] || []).find((e) => e.route);
    if (entry) return entry.route;
  }
  return "/profile";
}

/** The current route with its query, for the login to come back to (e.g. a mail's link to #/take-ownership). */
function wantedRoute() {
  const { path, query } = currentLocation();
  const search = query.toString();
  return path === "/login" || path === "/" ? "" : `${path}${search ? `?${search}` : ""}`;
}

function findRoute(path) {
  for (const route of allRoutes()) {
    const params = match(route.path, path);
    if (params) return { route, params };
  }
  return null;
}

function context(route, params, query) {
  return {
    route, params, query, session, t, gql, navigate, redirect, href,
    flash: flashMessage, refreshSession, homePath,
    rerender: () => render(currentLocation()),
    showError: errorMessage,
  };
}

async function render(location) {
  const count = ++renderCount;
  const { path, query } = location;
  if (path === "/") {
    redirect(session.loggedIn ? homePath() : "/login");
    return;
  }
  const found = findRoute(path);
  if (found && !found.route.public && !session.loggedIn) {
    redirect("/login", { next: wantedRoute() });
    return;
  }
  if (found && found.route.guestOnly && session.loggedIn) {
    redirect(homePath());
    return;
  }
  if (session.user?.mustChangePassword && !(found && (found.route.allowPending || found.route.public))) {
    redirect("/change-password");
    return;
  }
  const main = layout(found?.route);
  if (!found) {
    showPage(main, "page.notFound.title", "page.notFound.text");
  } else if (session.loggedIn && !found.route.public && !permitted(found.route, session)) {
    showPage(main, "page.forbidden.title", "page.forbidden.text");
  } else {
    document.title = `${t(found.route.title)} · ${t("app.name")}`;
    try {
      await found.route.render(main, context(found.route, found.params, query));
    } catch (error) {
      if (count !== renderCount) return;
      main.append(h("p", { class: "message message-error", role: "alert" }, errorMessage(error instanceof ApiError ? error : null)));
      console.error(error);
    }
  }
  // A new page takes the focus to its heading, unless the user has already moved into the page while it loaded
  // (opened a row's menu, started typing in a filter): taking it away then would lose their place.
  if (count === renderCount && count > 1 && !main.contains(document.activeElement)) main.querySelector("h1")?.focus();
}

function showPage(main, title, text) {
  document.title = `${t(title)} · ${t("app.name")}`;
  main.append(
    h("header", { class: "page-header" }, h("h1", { tabindex: "-1" }, t(title))),
    h("p", {}, t(text)),
    h("p", {}, h("a", { href: href(session.loggedIn ? homePath() : "/login") }, t("page.home"))),
  );
}

/** Build the page chrome and return the (empty) <main> to render into. */
function layout(route) {
  const main = h("main", { id: "main", tabindex: "-1" });
  if (flash) {
    const text = typeof flash.text === "function" ? flash.text() : flash.text;
    main.append(h("p", { class: `message message-${flash.kind}`, role: flash.kind === "error" ? "alert" : "status" }, text));
    flash = null;
  }
  const full = session.loggedIn && !session.user.mustChangePassword && !(route && route.public);
  const topbar = h(
    "header",
    { class: "topbar" },
    h("a", { class: "brand", href: "#/" }, t("app.name")),
    session.loggedIn ? accountMenu(full) : null,
  );
  const body = full ? h("div", { class: "body" }, sideMenu(), main) : h("div", { class: "body body-narrow" }, main);
  replace(root, topbar, body);
  return main;
}

function entryNode(entry, { current, exact = false }) {
  const label = t(entry.label);
  if (entry.route) {
    // a page below an entry keeps it marked, unless the page has an entry of its own
    const active = current === entry.route || (!exact && current.startsWith(`${entry.route}/`));
    return h("a", { href: href(entry.route), "aria-current": active ? "page" : null, dataset: { menu: entry.id || entry.route } }, label);
  }
  if (entry.href) {
    return h("a", { href: entry.href, target: entry.target || null, rel: entry.target ? "noopener" : null, dataset: { menu: entry.id || entry.href } }, label);
  }
  return h(
    "button",
    {
      type: "button",
      class: "link",
      dataset: { menu: entry.id || entry.label },
      onClick: () => entry.action(context(null, {}, new URLSearchParams())),
    },
    label,
  );
}

function sideMenu() {
  const menu = menuFor(session);
  const current = currentLocation().path;
  const exact = Object.values(menu).some((entries) => entries.some((entry) => entry.route === current));
  return h(
    "nav",
    { class: "sidebar", "aria-label": t("menu.main") },
    SECTIONS.filter((s) => s !== "account" && menu[s]).map((section) =>
      h(
        "section",
        { dataset: { section } },
        h("h2", {}, t(`section.${section}`)),
        h("ul", {}, menu[section].map((entry) => h("li", {}, entryNode(entry, { current, exact })))),
      ),
    ),
  );
}

function accountMenu(full) {
  const user = session.user;
  const current = currentLocation().path;
  const entries = (menuFor(session).account || []).filter((entry) => full || entry.allowPending);
  return h(
    "nav",
    { class: "account", "aria-label": t("menu.account") },
    h("span", { class: "who" }, t("menu.signedInAs", { name: user.name, organisation: user.organisation.name })),
    h("ul", {}, entries.map((entry) => h("li", {}, entryNode(entry, { current })))),
  );
}
