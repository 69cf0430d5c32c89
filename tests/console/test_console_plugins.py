"""Console modules of third-party device-type plugins: an installed plugin (entry point `meter_kms.plugins`)
enabled by KMS_PLUGINS adds a panel to the device page without a change to any core file; the server serves
only the declared .js files of enabled plugins."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
from browser import LANGUAGES, login, shot
from playwright.async_api import expect

from models.devices import Device
from models.users import User

PLUGIN_DIR = Path(__file__).resolve().parent / "thirdparty_plugin"


def install(site: Path) -> dict[str, str]:
    """Publish tests/console/thirdparty_plugin as an installed distribution (a .dist-info with the entry point)
    and return the environment of a server that enables it."""
    dist = site / "acme_kms_panel-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-kms-panel\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[meter_kms.plugins]\nacme = acme_kms_panel:plugin\n")
    path = os.pathsep.join(p for p in (str(site), str(PLUGIN_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "KMS_PLUGINS": "oms,lorawan,acme"}


async def acme_device(world, serial: str = "ACME-1") -> Device:
    org = world.orgs["customer_a"]
    return await Device.create(
        serial_number=serial,
        device_type="acme-heat-meter",
        owner=org,
        owner_path=org.path,
        attributes=json.dumps({"loop": "secondary", "meterCode": "HX-42"}),
    )


async def test_a_third_party_plugin_adds_its_panel_to_the_device_page(
    world, settings, server_factory, page_factory, tmp_path
):
    # given: an ACME device and a server with the ACME plugin enabled
    device = await acme_device(world)
    lora = await Device.create(
        serial_number="L-1",
        device_type="topas-sonic-lora-w8",
        owner=world.orgs["customer_a"],
        owner_path=world.orgs["customer_a"].path,
        attributes=json.dumps({"devEui": "70B3D5E75E000009", "joinEui": "0000000000000000", "lorawanVersion": "1.0.3"}),
    )
    async with server_factory(settings, install(tmp_path / "site"), tmp_path) as base:
        async with page_factory(base) as page:
            # when
            await login(page, world.users["keys_a"].email)
            await page.get_by_role("link", name="ACME-1", exact=True).click()
            # then: the plugin's panel, with the identifiers its Python plugin names
            panel = page.locator("[data-panel=acme-heat]")
            await expect(panel).to_have_attribute("data-plugin", "acme")
            await expect(panel.get_by_role("heading")).to_have_text("ACME heat meter")
            await expect(panel.locator("[data-acme=meterCode]")).to_have_text("HX-42")
            await expect(panel.locator("[data-acme=loop]")).to_have_text("secondary")
            await expect(page.locator("[data-fact=type]")).to_have_text("ACME Heat 3000")
            # the built-in M-Bus panel is for OMS devices only, the ACME panel for ACME devices only
            await expect(page.locator("[data-panel=oms-identifiers]")).to_have_count(0)
            await page.goto(f"/console#/devices/{lora.id}")
            await expect(page.locator("[data-panel=lorawan-identifiers]")).to_be_visible()
            await expect(page.locator("[data-panel=acme-heat]")).to_have_count(0)
            # its messages join the console's: every language complete
            missing = await page.evaluate(
                "async () => (await import('/console/static/core/i18n.js')).missingTranslations()"
            )
            assert missing == []
            for language in LANGUAGES:
                await User.filter(id=world.users["keys_a"].id).update(language=language)
                await page.locator("[data-menu=logout]").click()
                # the logout has ended the session before the next login starts one (else its answer may
                # arrive after the login's and end the new session)
                await expect(page.locator("form.login")).to_be_visible()
                await login(page, world.users["keys_a"].email)
                await page.goto(f"/console#/devices/{device.id}")
                await expect(page.locator("[data-panel=acme-heat] [data-acme=meterCode]")).to_have_text("HX-42")
                await shot(page, "devices-06-plugin-panel", language)

        async with httpx.AsyncClient(base_url=base) as http:
            shell = (await http.get("/console")).text
            assert 'data-plugin-modules="/console/ext/acme/panel.js"' in shell
            module = await http.get("/console/ext/acme/panel.js")
            assert module.status_code == 200
            assert module.headers["content-type"].startswith("text/javascript")
            assert module.headers["x-content-type-options"] == "nosniff"
            assert "script-src 'self'" in module.headers["content-security-policy"]
            assert "acme.panel.title" in module.text
            # only declared .js files of enabled plugins
            for path in (
                "/console/ext/acme/undeclared.js",
                "/console/ext/acme/__init__.py",
                "/console/ext/acme/..%2F__init__.py",
                "/console/ext/acme/%2E%2E%2F__init__.py",
                "/console/ext/oms/panel.js",
                "/console/ext/nobody/panel.js",
            ):
                assert (await http.get(path)).status_code == 404, path


async def test_a_plugin_that_is_not_enabled_is_neither_listed_nor_served(server):
    async with httpx.AsyncClient(base_url=server) as http:
        assert 'data-plugin-modules=""' in (await http.get("/console")).text
        assert (await http.get("/console/ext/acme/panel.js")).status_code == 404
