/*
 * Meter KMS console: GraphiQL bootstrap.
 *
 * Kept in a static file (not an inline <script>) so that the page works under a
 * Content-Security-Policy without 'unsafe-inline' for scripts. Configuration comes
 * from data-* attributes on #graphiql, written by console/graphiql.py.
 *
 * Expects the UMD globals React, ReactDOM and GraphiQL (loaded before this file).
 */
(function () {
  "use strict";

  // react-remove-scroll (used by GraphiQL's dialogs) creates <style> elements and
  // tags them with __webpack_nonce__ when it is defined; hand it this script's CSP
  // nonce so a nonce-based style-src policy accepts them.
  var currentScript = document.currentScript;
  if (currentScript && currentScript.nonce) {
    window.__webpack_nonce__ = currentScript.nonce;
  }

  function start() {
    var container = document.getElementById("graphiql");
    if (!container) {
      return;
    }
    var graphqlUrl = container.getAttribute("data-graphql-url") || "/graphql";

    // Full-window layout, set through the CSSOM (allowed by CSP, unlike a <style> block).
    document.body.style.margin = "0";
    document.body.style.overflow = "hidden";
    container.style.height = "100vh";

    // Always send the session cookie (same origin only) and always post JSON:
    // a content type typed into the headers editor cannot replace it.
    function sameOriginFetch(input, init) {
      var options = Object.assign({}, init || {});
      var headers = new Headers(options.headers || {});
      headers.set("Content-Type", "application/json");
      options.headers = headers;
      options.credentials = "same-origin";
      return window.fetch(input, options);
    }

    var fetcher = GraphiQL.createFetcher({ url: graphqlUrl, fetch: sameOriginFetch });

    var root = ReactDOM.createRoot(container);
    root.render(
      React.createElement(GraphiQL, {
        fetcher: fetcher,
        defaultEditorToolsVisibility: true,
        shouldPersistHeaders: false,
      })
    );
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
