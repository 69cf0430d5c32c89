// Developer tools > GraphiQL, inside the console: the route shows the GraphiQL page of GET /graphql
// (the project's own assets, no CDN) in a same-origin frame, so the menu stays visible and the
// console's session cookie is used. Only that page may be framed, and only by this origin
// (frame-ancestors 'self', app.py); it stays available on its own at /graphql.

import { h } from "../../core/dom.js";
import { pageHeader } from "../../core/ui.js";

const requires = ["INTROSPECT"];
const roles = ["PLATFORM_ADMIN", "OTC_ADMIN"];

function renderGraphiql(main, ctx) {
  const { t } = ctx;
  main.classList.add("main-wide");
  main.append(
    pageHeader(
      t("graphiql.title"),
      h("a", { class: "btn btn-secondary", href: "/graphql", target: "_blank", rel: "noopener", dataset: { action: "graphiql-tab" } }, t("graphiql.newTab")),
    ),
    h("p", { class: "hint" }, t("graphiql.hint")),
    h("iframe", { class: "graphiql-frame", src: "/graphql?embedded=1", title: t("graphiql.frame"), name: "graphiql" }),
  );
}

export default {
  id: "graphiql",
  messages: {
    EN: {
      "graphiql.menu": "GraphiQL (API explorer)",
      "graphiql.title": "GraphiQL (API explorer)",
      "graphiql.frame": "GraphiQL editor",
      "graphiql.hint": "Queries run with your console session and your role's rights. GraphiQL itself is in English.",
      "graphiql.newTab": "Open in a new tab",
    },
    DE: {
      "graphiql.menu": "GraphiQL (API-Explorer)",
      "graphiql.title": "GraphiQL (API-Explorer)",
      "graphiql.frame": "GraphiQL-Editor",
      "graphiql.hint": "Abfragen laufen mit Ihrer Konsolensitzung und den Rechten Ihrer Rolle. GraphiQL selbst ist auf Englisch.",
      "graphiql.newTab": "In neuem Tab öffnen",
    },
    ES: {
      "graphiql.menu": "GraphiQL (explorador de la API)",
      "graphiql.title": "GraphiQL (explorador de la API)",
      "graphiql.frame": "Editor de GraphiQL",
      "graphiql.hint": "Las consultas se ejecutan con su sesión de la consola y los permisos de su rol. GraphiQL está en inglés.",
      "graphiql.newTab": "Abrir en una pestaña nueva",
    },
    SV: {
      "graphiql.menu": "GraphiQL (API-utforskare)",
      "graphiql.title": "GraphiQL (API-utforskare)",
      "graphiql.frame": "GraphiQL-redigerare",
      "graphiql.hint": "Frågor körs med din konsolsession och din rolls behörigheter. Själva GraphiQL är på engelska.",
      "graphiql.newTab": "Öppna i en ny flik",
    },
  },
  menu: [{ id: "graphiql", section: "developer", label: "graphiql.menu", route: "/graphiql", requires, roles, order: 10 }],
  routes: [{ path: "/graphiql", title: "graphiql.title", requires, roles, render: renderGraphiql }],
};
