"""A bulk operation killed in the middle leaves nothing half-done: `kms serve` is killed (SIGKILL) while it
imports devices, and afterwards either every row of the import exists or none does, with or without its
audit event accordingly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from models.audit import AuditEvent
from models.devices import Device
from models.keys import DeviceKey
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[1]
ROWS = 30_000
IMPORT = "mutation($org: ID!, $rows: [DeviceImportRow!]!) { importDevices(organisationId: $org, rows: $rows) { id } }"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start_server(settings, port: int) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "KMS_DATABASE_URL": settings.database_url,
        "KMS_DATA_DIR": str(settings.data_dir),
        "KMS_MAIL_WORKER": "off",
        "KMS_LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            try:
                if (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                    return process
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    process.kill()
    pytest.fail("kms serve did not start")


async def test_import_killed_midway_leaves_all_or_nothing(settings, world):
    # given: a server and an import large enough to be cut off while it runs
    port = free_port()
    process = await start_server(settings, port)
    rows = [
        {
            "serialNumber": f"CRASH-{i:06}",
            "deviceType": "topas-sonic-lora-w8",
            "attributes": json.dumps({"devEui": f"70B3D5E7{i:08X}"}),
        }
        for i in range(ROWS)
    ]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            login = await http.post(
                "/graphql",
                json={
                    "query": 'mutation { login(email: "platform_admin@example.com", '
                    f'password: "{PASSWORD}") {{ user {{ id }} }} }}'
                },
            )
            assert login.json()["data"]["login"]["user"]["id"]
            request = asyncio.create_task(
                http.post(
                    "/graphql",
                    json={"query": IMPORT, "variables": {"org": str(world.orgs["customer_a"].id), "rows": rows}},
                )
            )
            # when: the server dies without any chance to clean up
            await asyncio.sleep(1.0)
            os.killpg(process.pid, signal.SIGKILL)
            with pytest.raises(httpx.TransportError):
                await request  # the import did not finish before the kill, or the test proves nothing
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
    # then
    devices = await Device.filter(serial_number__startswith="CRASH-").count()
    keys = await DeviceKey.filter(device__serial_number__startswith="CRASH-").count()
    audited = await AuditEvent.filter(action="devices.imported").count()
    assert (devices, keys, audited) in {(0, 0, 0), (ROWS, ROWS, 1)}
