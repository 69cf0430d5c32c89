"""The admin console: one HTML shell at ``/console`` and the ES modules under ``console/static``.

The console is a client of ``/graphql`` (session cookie, same origin) and has no back-end path of its
own. The shell has no inline script or style, so it runs under the service's CSP
(``script-src 'self'``, ``style-src 'self' 'nonce-…'``). Modules are plain files: no build step and no
request to another origin.

``app.py`` adds :func:`console_page` at ``/console``, :func:`to_console` at ``/`` and mounts
:func:`static_app` at ``/console/static``. Console modules of enabled Python plugins (``Plugin.console_modules``)
are served by :func:`plugin_module` at ``/console/ext/<plugin>/<file>.js`` and listed on the shell
(``data-plugin-modules``), so the console imports them after its built-in plugins.
"""

from __future__ import annotations

import html
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from urllib.parse import urlencode

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import ASGIApp, Scope

from plugins.registry import PluginRegistry

__all__ = [
    "EMAIL_LINK_PAGES",
    "PLUGIN_MODULE_PREFIX",
    "STATIC_DIR",
    "console_page",
    "console_page_for",
    "email_link_page",
    "plugin_module",
    "shell_html",
    "static_app",
    "to_console",
]

STATIC_DIR = Path(__file__).resolve().parent / "static"

#: Only these kinds of file are served from ``console/static``; anything else answers 404.
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
#: Modules import each other by plain URLs, so browsers revalidate (ETag) instead of caching for good.
CACHE_CONTROL = "no-cache"


class _ConsoleStatic(StaticFiles):
    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        media_type = CONTENT_TYPES.get(Path(full_path).suffix)
        if media_type is None:
            return Response("Not Found\n", status_code=404, media_type="text/plain")
        response = FileResponse(
            full_path,
            status_code=status_code,
            stat_result=stat_result,
            media_type=media_type,
            headers={"Cache-Control": CACHE_CONTROL},
        )
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


def static_app() -> ASGIApp:
    """The console's modules and stylesheet (mount at ``/console/static``)."""
    return _ConsoleStatic(directory=STATIC_DIR, follow_symlink=False)


#: Where enabled plugins' console modules are served: ``/console/ext/<plugin>/<file>.js``.
PLUGIN_MODULE_PREFIX = "/console/ext"


def shell_html(*, nonce: str, static_prefix: str = "/console/static", plugin_modules: Sequence[str] = ()) -> str:
    """The single page every console screen renders into. No inline script or style.

    ``plugin_modules`` are the URLs of the enabled plugins' console modules (space separated on
    ``#app``); ``main.js`` imports them after the built-in plugins."""
    n = html.escape(nonce, quote=True)
    prefix = html.escape(static_prefix.rstrip("/"), quote=True)
    modules = html.escape(" ".join(plugin_modules), quote=True)
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <meta name="robots" content="noindex, nofollow">
    <title>Meter KMS</title>
    <link rel="icon" href="{prefix}/favicon.svg" type="image/svg+xml">
    <link rel="stylesheet" nonce="{n}" href="{prefix}/console.css">
    <script type="module" nonce="{n}" src="{prefix}/main.js"></script>
  </head>
  <body>
    <a class="skip-link" href="#main">Skip to content</a>
    <div id="app" data-graphql-url="/graphql" data-plugin-modules="{modules}" aria-busy="true">
      <p class="boot">Meter KMS…</p>
    </div>
    <noscript>The Meter KMS console needs JavaScript.</noscript>
  </body>
</html>
"""


async def console_page(request: Request) -> Response:
    """GET /console: the shell; the hash (``#/devices``) picks the screen."""
    return HTMLResponse(shell_html(nonce=request.state.csp_nonce))


def console_page_for(plugins: PluginRegistry) -> Callable[[Request], Awaitable[Response]]:
    """GET /console listing the console modules of the enabled plugins."""
    modules = [f"{PLUGIN_MODULE_PREFIX}/{name}/{file}" for name, file in plugins.console_modules()]

    async def page(request: Request) -> Response:
        return HTMLResponse(shell_html(nonce=request.state.csp_nonce, plugin_modules=modules))

    return page


def plugin_module(plugins: PluginRegistry) -> Callable[[Request], Awaitable[Response]]:
    """GET /console/ext/<plugin>/<file>: a console module an enabled plugin declares, else 404.

    Only the declared ``.js`` files of enabled plugins are served (no directory listing, no other file
    of the package); the security headers are those of every response."""

    async def module(request: Request) -> Response:
        name, file = request.path_params["plugin"], request.path_params["file"]
        path = plugins.console_module(name, file) if file.endswith(".js") else None
        if path is None:
            return Response("Not Found\n", status_code=404, media_type="text/plain")
        return FileResponse(path, media_type=CONTENT_TYPES[".js"], headers={"Cache-Control": CACHE_CONTROL})

    return module


#: Pages that emails link to (``<public url>/<page>?token=…``) and the console screen each opens.
EMAIL_LINK_PAGES = {
    "/signup": "/signup",
    "/reset-password": "/reset-password",
    "/confirm-email": "/confirm-email",
    "/console/take-ownership": "/take-ownership",
}


async def email_link_page(request: Request) -> Response:
    """GET /signup?token=… (and the other :data:`EMAIL_LINK_PAGES`): open the console screen.

    The query moves into the fragment (``/console#/signup?token=…``), so the token is not sent to
    the server again by the console, and ``Referrer-Policy: no-referrer`` keeps it from other sites.
    Only the ``token`` parameter (the account links) and ``reference`` (the "New batch" mail's batch
    reference, which fills in the Take ownership form) are carried over.
    """
    screen = EMAIL_LINK_PAGES[request.url.path]
    carried = {name: request.query_params[name] for name in ("token", "reference") if request.query_params.get(name)}
    fragment = f"{screen}?{urlencode(carried)}" if carried else screen
    return RedirectResponse(f"/console#{fragment}", status_code=303, headers={"Cache-Control": "no-store"})


async def to_console(request: Request) -> Response:
    """GET /: the console is the service's front page."""
    return RedirectResponse("/console", status_code=307)
