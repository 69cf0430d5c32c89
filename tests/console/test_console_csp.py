"""The console shell and its modules: served under the security headers, no inline script, local only."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from console.web import CONTENT_TYPES, STATIC_DIR

CONSOLE_MODULES = sorted(
    p for p in STATIC_DIR.rglob("*") if p.is_file() and p.suffix in CONTENT_TYPES and p.name != "graphiql-init.js"
)


def assert_security_headers(response) -> None:
    headers = response.headers
    csp = headers["content-security-policy"]
    directives = {part.split()[0]: part.split()[1:] for part in (d.strip() for d in csp.split(";")) if part}
    assert directives["script-src"] == ["'self'"], csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["default-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["connect-src"] == ["'self'"]
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"


class _Audit(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block or what would leave the origin."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"inline handler {name} on <{tag}>")
            if name == "style":
                self.problems.append(f"style attribute on <{tag}>")
            if name in ("src", "href") and value and re.match(r"^(https?:)?//", value):
                self.problems.append(f"{tag} loads from another origin: {value}")
            if value and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL on <{tag}>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script":
            self.scripts.append(named)
            if not named.get("src"):
                self.problems.append("inline <script>")
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("script element with a body")


async def test_root_redirects_to_the_console(client):
    response = await client().http.get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/console"
    assert_security_headers(response)


@pytest.mark.parametrize(
    ("link", "screen"),
    [
        ("/signup?token=abc-123", "/console#/signup?token=abc-123"),
        ("/reset-password?token=r%2Bs", "/console#/reset-password?token=r%2Bs"),
        ("/confirm-email?token=c1&other=x", "/console#/confirm-email?token=c1"),
        ("/console/take-ownership", "/console#/take-ownership"),
        ("/console/take-ownership?reference=BR+7%2F1&x=1", "/console#/take-ownership?reference=BR+7%2F1"),
    ],
)
async def test_email_links_open_their_console_screen(client, link, screen):
    response = await client().http.get(link)
    assert response.status_code == 303
    assert response.headers["location"] == screen
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_console_shell_has_headers_and_no_inline_script(client):
    response = await client().http.get("/console")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert_security_headers(response)
    audit = _Audit()
    audit.feed(response.text)
    assert audit.problems == []
    assert [s.get("src") for s in audit.scripts] == ["/console/static/main.js"]
    assert audit.scripts[0].get("type") == "module"


@pytest.mark.parametrize("path", [p.relative_to(STATIC_DIR).as_posix() for p in CONSOLE_MODULES])
async def test_every_console_file_is_served_with_the_headers(client, path):
    response = await client().http.get(f"/console/static/{path}")
    assert response.status_code == 200, path
    assert response.headers["content-type"] == CONTENT_TYPES[Path(path).suffix]
    assert response.headers["cache-control"] == "no-cache"
    assert_security_headers(response)


@pytest.mark.parametrize(
    "path",
    [
        "/console/static/nope.js",
        "/console/static/core",
        "/console/static/../web.py",
        "/console/static/%2e%2e/web.py",
        "/console/static/core/../../web.py",
    ],
)
async def test_nothing_else_is_served(client, path):
    response = await client().http.get(path)
    assert response.status_code == 404
    assert_security_headers(response)


def test_console_modules_stay_inside_the_csp_and_the_origin():
    """No innerHTML/eval (XSS, 'unsafe-eval'), no style attributes, no address of another origin."""
    scripts = [p for p in CONSOLE_MODULES if p.suffix == ".js"]
    assert len(scripts) >= 10
    for path in scripts:
        text = path.read_text()
        for pattern in (
            r"\.innerHTML",
            r"\.outerHTML",
            r"insertAdjacentHTML",
            r"\beval\(",
            r"new Function\(",
            r"setAttribute\(\s*['\"]style",
            r"https?://",
            r"document\.write",
        ):
            assert not re.search(pattern, text), f"{path.relative_to(STATIC_DIR)} uses {pattern}"
