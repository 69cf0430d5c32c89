"""GraphiQL inside the console (#/graphiql): the GraphiQL page of GET /graphql, from the project's own
assets, in a same-origin frame with the console's menu beside it and the console's session. Only that
page may be framed, and only by this origin; everything else keeps frame-ancestors 'none'."""

from __future__ import annotations

import re

import pytest
from browser import LANGUAGES, login, logout, shot
from playwright.async_api import expect

from models.users import User

QUERY = "{ me { email organisation { name } } }"


def directives(csp: str) -> dict[str, list[str]]:
    parts = (d.strip().split() for d in csp.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


async def open_graphiql(page):
    """Open Developer tools > GraphiQL from the menu; returns the frame once GraphiQL is up."""
    await page.get_by_role("navigation", name="Main menu").get_by_role("link", name="GraphiQL (API explorer)").click()
    await expect(page).to_have_url(re.compile(r"/console#/graphiql$"))
    frame = page.frame_locator("iframe.graphiql-frame")
    await expect(frame.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()
    return frame


async def test_platform_admin_runs_a_query_in_graphiql_inside_the_console(page, world):
    await login(page, world.users["platform_admin"].email)
    frame = await open_graphiql(page)
    # the console stays around it
    await expect(page.get_by_role("heading", name="GraphiQL (API explorer)")).to_be_visible()
    await expect(page.get_by_role("navigation", name="Main menu")).to_be_visible()
    await expect(page.locator("[data-menu=graphiql]")).to_have_attribute("aria-current", "page")
    await expect(page.locator("iframe.graphiql-frame")).to_have_attribute("title", "GraphiQL editor")
    # when: a query typed into the editor and run
    graphiql = page.frame(name="graphiql")
    assert graphiql is not None and graphiql.url.endswith("/graphql?embedded=1")
    await graphiql.evaluate(
        "query => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(query)", QUERY
    )
    await frame.locator(".graphiql-execute-button").click()
    # then: the answer comes with the console's session (the frame sent the same cookie)
    result = frame.locator(".result-window")
    await expect(result).to_contain_text('"email": "platform_admin@example.com"')
    await expect(result).to_contain_text('"name": "IntegraDemo"')


async def test_otc_admin_has_graphiql_in_the_console_menu(page, world):
    await login(page, world.users["admin_a"].email)
    menu = page.get_by_role("navigation", name="Main menu")
    await expect(menu.get_by_role("link", name="GraphiQL (API explorer)")).to_have_attribute("href", "#/graphiql")
    frame = await open_graphiql(page)
    await expect(frame.locator(".graphiql-execute-button")).to_be_visible()


@pytest.mark.parametrize("key", ["keys_a", "viewer_a"])
async def test_key_manager_and_viewer_have_no_graphiql(page, world, key):
    await login(page, world.users[key].email)
    await expect(page.get_by_role("navigation", name="Main menu")).to_be_visible()
    await expect(page.locator("[data-menu=graphiql]")).to_have_count(0)
    await page.goto("/console#/graphiql")
    await expect(page.get_by_role("heading", name="Not available")).to_be_visible()
    await expect(page.get_by_text("Your role does not give access to this page.")).to_be_visible()
    await expect(page.locator("iframe")).to_have_count(0)


async def graphiql_page(api, embedded: bool):
    params = {"embedded": "1"} if embedded else {}
    return await api.http.get("/graphql", params=params, headers={"Accept": "text/html"})


async def test_only_the_embedded_graphiql_page_may_be_framed_and_only_by_the_same_origin(client, as_user):
    admin = await as_user("admin_a")
    embedded = await graphiql_page(admin, embedded=True)
    assert embedded.status_code == 200 and "graphiql.js" in embedded.text
    csp = directives(embedded.headers["content-security-policy"])
    assert csp["frame-ancestors"] == ["'self'"]
    assert embedded.headers["x-frame-options"] == "SAMEORIGIN"
    assert csp["script-src"] == ["'self'"] and csp["default-src"] == ["'none'"]
    assert not any("unsafe" in v for values in csp.values() for v in values)
    nonce = re.search(r"'nonce-([^']+)'", embedded.headers["content-security-policy"])[1]
    assert embedded.text.count(f'nonce="{nonce}"') == 5  # the page's own nonce, as without the frame

    # the same page on its own, and every refusal, may not be framed at all
    alone = await graphiql_page(admin, embedded=False)
    assert alone.status_code == 200
    keys = await as_user("keys_a")
    for response in (alone, await graphiql_page(client(), embedded=True), await graphiql_page(keys, embedded=True)):
        assert directives(response.headers["content-security-policy"])["frame-ancestors"] == ["'none'"]
        assert response.headers["x-frame-options"] == "DENY"
    assert [r.status_code for r in (await graphiql_page(client(), True), await graphiql_page(keys, True))] == [401, 403]

    # the console shell may frame same-origin pages (and is itself never framed); nothing else frames
    shell = await admin.http.get("/console")
    shell_csp = directives(shell.headers["content-security-policy"])
    assert shell_csp["frame-src"] == ["'self'"] and shell_csp["frame-ancestors"] == ["'none'"]
    assert shell.headers["x-frame-options"] == "DENY"
    for path in ("/health", "/console/static/core/app.js", "/graphql?query=%7B__typename%7D"):
        other = directives((await admin.http.get(path)).headers["content-security-policy"])
        assert "frame-src" not in other and other["frame-ancestors"] == ["'none'"]


async def test_graphiql_in_the_console_in_all_four_languages(page, world):
    admin = world.users["platform_admin"]
    for language in LANGUAGES:
        await User.filter(id=admin.id).update(language=language)
        await login(page, admin.email)
        await page.goto("/console#/graphiql")
        frame = page.frame_locator("iframe.graphiql-frame")
        await expect(frame.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()
        await page.frame(name="graphiql").evaluate(
            "query => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(query)", QUERY
        )
        await frame.locator(".graphiql-execute-button").click()
        await expect(frame.locator(".result-window")).to_contain_text("platform_admin@example.com")
        await shot(page, "graphiql-01-console", language)
        await logout(page)
