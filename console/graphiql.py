"""Self-hosted GraphiQL for the Meter KMS console.

Everything the page needs is served by this service itself: React, ReactDOM and
GraphiQL come from ``console/node_modules`` (installed from ``console/package-lock.json``
by ``npm ci`` in ``make setup``), the bootstrap script from ``console/static``. Nothing is
loaded from a CDN or any other origin at run time.

Mount :func:`assets_app` at ``/console/assets`` and serve :func:`graphiql_html` wherever
the console lives. Checked in headless Chromium, the page works under::

    default-src 'none'; script-src 'self'; style-src 'self' 'nonce-<nonce>';
    font-src 'self' data:; img-src 'self' data:; connect-src 'self';
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'

The console shows the same page inside its layout (route ``#/graphiql``) as a frame of
``/graphql?embedded=1``: that response alone says ``frame-ancestors 'self'`` (app.py), the
console shell allows ``frame-src 'self'``, and every other response keeps ``'none'``.

No inline script, no ``'unsafe-eval'``. GraphiQL's stylesheet is a plain file; the only
inline style is a ``<style>`` element that GraphiQL's dialogs (react-remove-scroll) add when
opened: it needs the page's nonce (``graphiql-init.js`` hands it over) or ``'unsafe-inline'``
in style-src. Under ``style-src 'self'`` alone it is blocked (dialogs still open, only the
scroll lock is lost). GraphiQL embeds its fonts (and a few images) as ``data:`` URLs.
"""

from __future__ import annotations

import hashlib
import html
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp

__all__ = ["ASSET_FILES", "CACHE_CONTROL", "NODE_MODULES", "assets_app", "graphiql_html"]

CONSOLE_DIR = Path(__file__).resolve().parent
NODE_MODULES = CONSOLE_DIR / "node_modules"
STATIC_DIR = CONSOLE_DIR / "static"

#: Public asset name -> file on disk. Only these names are ever served.
ASSET_FILES: dict[str, Path] = {
    "react.js": NODE_MODULES / "react" / "umd" / "react.production.min.js",
    "react-dom.js": NODE_MODULES / "react-dom" / "umd" / "react-dom.production.min.js",
    "graphiql.js": NODE_MODULES / "graphiql" / "graphiql.min.js",
    "graphiql.css": NODE_MODULES / "graphiql" / "graphiql.min.css",
    "graphiql-init.js": STATIC_DIR / "graphiql-init.js",
}

_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}

#: Asset URLs in the page carry a content digest (``?v=...``), so they may be cached for good.
CACHE_CONTROL = "public, max-age=31536000, immutable"

MISSING_ASSETS_MESSAGE = (
    "GraphiQL assets are not installed: run make setup (npm ci in console/).\nMissing file: {path}\n"
)


@lru_cache(maxsize=32)
def _digest(path: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _asset_version(name: str) -> str | None:
    path = ASSET_FILES[name]
    try:
        stat = path.stat()
    except OSError:
        return None
    return _digest(path, stat.st_mtime_ns, stat.st_size)


def _display_path(path: Path) -> str:
    try:
        return str(path.relative_to(CONSOLE_DIR.parent))
    except ValueError:
        return path.name


async def _serve_asset(request: Request) -> Response:
    name = request.path_params["name"]
    path = ASSET_FILES.get(name)
    if path is None:
        return PlainTextResponse("Not Found\n", status_code=404)
    if not path.is_file():
        return PlainTextResponse(
            MISSING_ASSETS_MESSAGE.format(path=_display_path(path)),
            status_code=503,
            headers={"Cache-Control": "no-store", "Retry-After": "3600"},
        )
    return FileResponse(
        path,
        media_type=_CONTENT_TYPES[path.suffix],
        headers={"Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"},
    )


def assets_app() -> ASGIApp:
    """ASGI app serving :data:`ASSET_FILES` at ``/<name>`` (mount it at ``/console/assets``).

    Unknown names answer 404; a known asset whose file is missing (``npm ci`` not run)
    answers 503 with a plain-text hint.
    """
    return Router(routes=[Route("/{name}", _serve_asset, methods=["GET", "HEAD"])])


def graphiql_html(
    *,
    graphql_url: str = "/graphql",
    assets_prefix: str = "/console/assets",
    nonce: str,
) -> str:
    """The GraphiQL page: local assets only, no inline script or style.

    ``nonce`` is the request's CSP nonce; it is set on the page's ``<script>`` and
    ``<link>`` elements and handed (by ``graphiql-init.js``) to the ``<style>`` elements
    GraphiQL creates at run time, so a nonce-based policy works as well as ``'self'``.
    """
    prefix = assets_prefix.rstrip("/")

    def url(name: str) -> str:
        version = _asset_version(name)
        return f"{prefix}/{name}" + (f"?v={version}" if version else "")

    def attr(value: str) -> str:
        return html.escape(value, quote=True)

    n = attr(nonce)
    scripts = "\n".join(
        f'    <script nonce="{n}" src="{attr(url(name))}"></script>'
        for name in ("react.js", "react-dom.js", "graphiql.js", "graphiql-init.js")
    )
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <meta name="robots" content="noindex, nofollow">
    <title>Meter KMS · GraphiQL</title>
    <link rel="stylesheet" nonce="{n}" href="{attr(url("graphiql.css"))}">
  </head>
  <body>
    <div id="graphiql" data-graphql-url="{attr(graphql_url)}">Loading GraphiQL…</div>
    <noscript>GraphiQL needs JavaScript.</noscript>
{scripts}
  </body>
</html>
"""
