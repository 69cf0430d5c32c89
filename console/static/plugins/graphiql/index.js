// Developer tools > GraphiQL: GET /graphql serves GraphiQL (from the project's own assets) to
// PLATFORM_ADMIN and OTC_ADMIN, using the console's session cookie.

export default {
  id: "graphiql",
  messages: {
    EN: { "graphiql.menu": "GraphiQL (API explorer)" },
    DE: { "graphiql.menu": "GraphiQL (API-Explorer)" },
    ES: { "graphiql.menu": "GraphiQL (explorador de la API)" },
    SV: { "graphiql.menu": "GraphiQL (API-utforskare)" },
  },
  menu: [
    {
      id: "graphiql",
      section: "developer",
      label: "graphiql.menu",
      href: "/graphql",
      target: "_blank",
      requires: ["INTROSPECT"],
      roles: ["PLATFORM_ADMIN", "OTC_ADMIN"],
      order: 10,
    },
  ],
};
