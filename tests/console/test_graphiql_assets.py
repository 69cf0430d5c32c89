"""Self-hosted GraphiQL: local assets are served, the page loads nothing from other origins."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from console import graphiql
from console.graphiql import ASSET_FILES, assets_app, graphiql_html

# Starlette >= 1.10 prefers httpx2 for its TestClient and warns (an error under this project's
# filterwarnings) when only httpx is installed; the plain httpx transport works the same here.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

NODE_ASSETS = ("react.js", "react-dom.js", "graphiql.js", "graphiql.css")


@pytest.fixture
def client() -> TestClient:
    missing = [str(path) for path in ASSET_FILES.values() if not path.is_file()]
    if missing:
        pytest.fail(f"GraphiQL assets missing (run make setup / npm ci in console/): {missing}")
    return TestClient(assets_app())


def test_asset_map_names() -> None:
    assert set(NODE_ASSETS) <= set(ASSET_FILES)
    assert "graphiql-init.js" in ASSET_FILES
    for name in NODE_ASSETS:
        assert "node_modules" in ASSET_FILES[name].parts


def test_serves_graphiql_js(client: TestClient) -> None:
    response = client.get("/graphiql.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert "max-age=31536000" in response.headers["cache-control"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert len(response.content) > 0
    assert "GraphiQL" in response.text


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("react.js", "javascript"),
        ("react-dom.js", "javascript"),
        ("graphiql-init.js", "javascript"),
        ("graphiql.css", "text/css"),
    ],
)
def test_serves_other_assets(client: TestClient, name: str, kind: str) -> None:
    response = client.get(f"/{name}")
    assert response.status_code == 200
    assert kind in response.headers["content-type"]
    assert response.content


def test_head_request(client: TestClient) -> None:
    response = client.head("/graphiql.css")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize(
    "path", ["/nope.js", "/graphiql.min.js", "/package.json", "/..%2Fgraphiql.py", "/", "/react/umd/x.js"]
)
def test_unknown_name_is_404(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_missing_node_modules_is_503(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(graphiql.ASSET_FILES, "graphiql.js", tmp_path / "node_modules" / "graphiql.min.js")
    response = TestClient(assets_app()).get("/graphiql.js")
    assert response.status_code == 503
    assert "run make setup (npm ci in console/)" in response.text
    assert "max-age" not in response.headers.get("cache-control", "")


def test_html_uses_local_assets_only() -> None:
    page = graphiql_html(nonce="n0nce-123")
    for name in (*NODE_ASSETS, "graphiql-init.js"):
        assert re.search(rf'"/console/assets/{re.escape(name)}(\?v=[0-9a-f]+)?"', page), name
    assert "http://" not in page
    assert "https://" not in page
    assert "//" not in page.replace("<!doctype", "")  # no protocol-relative URLs either
    assert '<meta name="referrer" content="no-referrer">' in page
    assert 'data-graphql-url="/graphql"' in page


def test_html_has_no_inline_script_or_style() -> None:
    page = graphiql_html(nonce="abc")
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, flags=re.DOTALL | re.IGNORECASE)
    assert len(scripts) == 4
    for attrs, body in scripts:
        assert 'src="/console/assets/' in attrs
        assert 'nonce="abc"' in attrs
        assert body.strip() == ""
    assert "<style" not in page.lower()
    assert not re.search(r"\son[a-z]+\s*=", page, flags=re.IGNORECASE)  # no inline event handlers
    assert "javascript:" not in page.lower()


def test_html_options_are_escaped() -> None:
    page = graphiql_html(graphql_url='/api/graphql?a=1&b="x"', assets_prefix="/static/giql/", nonce='"><x')
    assert 'data-graphql-url="/api/graphql?a=1&amp;b=&quot;x&quot;"' in page
    assert '"/static/giql/graphiql.js' in page
    assert "<x" not in page


def test_init_script_posts_json_with_same_origin_credentials() -> None:
    init = ASSET_FILES["graphiql-init.js"].read_text(encoding="utf-8")
    assert 'credentials = "same-origin"' in init
    assert '"Content-Type", "application/json"' in init
    assert "http://" not in init
    assert "https://" not in init
