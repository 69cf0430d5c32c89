"""Bench of key custody: import, claim and release of keys through a real server, and its peak memory.

Prints figures; it is not a test. Run it from the repository root (``make bench``)::

    .venv/bin/python bench/keys.py [--rows 100000] [--small 10000] [--large 1000000]

It creates a fresh PostgreSQL database (``kms_bench``, dropped at the end), migrates it with ``kms migrate``,
creates the bench organisations and users with the ORM, then:

1. serves with ``kms serve --workers 2`` and, over HTTP, imports ``--rows`` devices with keys in one
   ``importDevices`` call, claims them with one ``claimDevices`` call as the owner's KEY_MANAGER, releases
   them with ``releaseKeys(filter: {})`` as CSV and streams the download URL, counting lines;
2. seeds ``--small`` and ``--large`` claimed devices (sealed under the same KEK file, loaded with COPY)
   into two more organisations and, with a fresh server for each, releases and downloads all of them,
   reading the serving worker's VmRSS before and VmHWM after from /proc.

Everything listens on loopback only; the server is stopped (its whole process group) even on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Bench-Keys-2026!"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
LOG_TAIL = 4000

IMPORT = """mutation Import($org: ID!, $rows: [DeviceImportRow!]!) {
  importDevices(organisationId: $org, rows: $rows) { id }
}"""
CLAIM = """mutation Claim($ids: [ID!]!) {
  claimDevices(deviceIds: $ids) { claimedCount refused { serialNumber reason } }
}"""
RELEASE = """mutation {
  releaseKeys(input: {filter: {}, format: "csv"}) { deviceCount keyCount downloadUrl refused { reason } }
}"""
LOGIN = """mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { mustChangePassword }
}"""


@dataclass
class Figure:
    name: str
    value: float | None
    unit: str
    target: float | None = None  # an upper bound from issue 4, when it sets one

    def verdict(self) -> str:
        if self.target is None or self.value is None:
            return ""
        return "ok" if self.value < self.target else "MISSED"


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: float | None, unit: str, target: float | None = None) -> None:
        self.figures.append(Figure(name, value, unit, target))
        shown = "-" if value is None else f"{value:,.2f} {unit}"
        print(f"  {name}: {shown}", flush=True)


# --- machine -------------------------------------------------------------------------------------------


def machine(pg_version: str) -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
    return {
        "nproc": str(os.cpu_count()),
        "RAM": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "CPU": cpu,
        "Python": platform.python_version(),
        "PostgreSQL": pg_version,
        # Other work on the machine skews every figure: the load at the start says whether it was quiet.
        "load (1 min)": f"{os.getloadavg()[0]:.2f} at start",
    }


# --- database ------------------------------------------------------------------------------------------


def loopback_url(value: str) -> str:
    if urlsplit(value).hostname not in LOOPBACK:
        raise argparse.ArgumentTypeError("must be a loopback address")
    return value


def add_pg_url(parser: argparse.ArgumentParser) -> None:
    """The benches' --pg-url: an administrative connection to a PostgreSQL on this machine."""
    parser.add_argument(
        "--pg-url",
        type=loopback_url,
        default=os.environ.get("KMS_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="an administrative connection (loopback only)",
    )


def database_url(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def recreate_database(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@dataclass(frozen=True)
class Account:
    email: str
    organisation_id: str


async def create_organisation(name: str, *, parent: Any = None, can_create: bool = False) -> Any:
    """An organisation with its materialised path, as `kms demo` makes them (cli.py no longer exports one)."""
    from models.organisations import Organisation

    new_id = uuid.uuid4()
    path = f"{parent.path if parent else '/'}{new_id}/"
    return await Organisation.create(
        id=new_id, name=name, parent=parent, path=path, can_create_organisations=can_create
    )


async def create_accounts(url: str) -> dict[str, Account]:
    """A platform organisation with its PLATFORM_ADMIN and three customer organisations with a KEY_MANAGER each."""
    from models import db
    from resolvers.demo import create_user
    from resolvers.keystore import open_key_store
    from settings import load

    await db.init(url)
    try:
        await open_key_store(load())  # the first KEK, as a server's start makes it: seed_claimed seals with it
        platform_org = await create_organisation("Bench Platform", can_create=True)
        accounts = {"admin": Account("admin@bench.example", str(platform_org.id))}
        await create_user(
            "Bench Admin", accounts["admin"].email, platform_org, ["PLATFORM_ADMIN"], PASSWORD, must_change=False
        )
        for label in ("import", "small", "large"):
            org = await create_organisation(f"Bench {label}", parent=platform_org)
            email = f"keys-{label}@bench.example"
            await create_user(f"Keys {label}", email, org, ["KEY_MANAGER"], PASSWORD, must_change=False)
            accounts[label] = Account(email, str(org.id))
        return accounts
    finally:
        await db.close()


def _sealed_rows(prefix: str, start: int, count: int, owner: tuple[uuid.UUID, str]) -> tuple[list[Any], list[Any]]:
    """Device and device-key records for COPY; every other device is LoRaWAN, the rest wireless M-Bus."""
    from crypto.envelope import seal
    from crypto.kcv import KeyAlgorithm, key_check_value
    from resolvers.keystore import keystore
    from settings import load

    kek = keystore(load()).current()
    now = datetime.now(UTC)
    devices, keys = [], []
    for n in range(start, start + count):
        device_id, key = uuid.uuid4(), os.urandom(16)
        if n % 2:
            device_type, key_type, attributes = (
                "topas-sonic-wmbus",
                "OMS",
                {"mbusId": f"{n % 10**8:08d}", "medium": "water"},
            )
        else:
            device_type, key_type = "topas-sonic-lora-w8", "AppKey"
            attributes = {"devEui": f"{n:016X}", "joinEui": "0000000000000000", "lorawanVersion": "1.0.3"}
        devices.append(
            (
                device_id,
                now,
                f"{prefix}{n:08d}",
                device_type,
                owner[0],
                owner[1],
                "CLAIMED",
                now,
                json.dumps(attributes, sort_keys=True),
            )
        )
        sealed = seal(key, device_id=str(device_id), key_type=key_type, kek=kek)
        keys.append(
            (
                uuid.uuid4(),
                now,
                device_id,
                key_type,
                "AES128",
                sealed.ciphertext,
                sealed.nonce,
                sealed.wrapped_dek,
                sealed.kek_id,
                sealed.kek_version,
                key_check_value(key, KeyAlgorithm.AES128),
            )
        )
    return devices, keys


DEVICE_COLUMNS = [
    "id",
    "created_at",
    "serial_number",
    "device_type",
    "owner_id",
    "owner_path",
    "claim_status",
    "claimed_at",
    "attributes",
]


async def seed_claimed(url: str, organisation_id: str, prefix: str, count: int, chunk: int = 50_000) -> float:
    """``count`` CLAIMED devices with one sealed key each, loaded with COPY; returns the seconds it took."""
    from resolvers.devices import KEY_COLUMNS  # the service's own column list for device_keys

    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        path = await conn.fetchval("SELECT path FROM organisations WHERE id = $1", uuid.UUID(organisation_id))
        owner = (uuid.UUID(organisation_id), str(path))
        for start in range(0, count, chunk):
            devices, keys = _sealed_rows(prefix, start, min(chunk, count - start), owner)
            async with conn.transaction():
                await conn.copy_records_to_table("devices", records=devices, columns=DEVICE_COLUMNS)
                await conn.copy_records_to_table("device_keys", records=keys, columns=list(KEY_COLUMNS))
        await conn.execute("ANALYZE devices; ANALYZE device_keys")
    finally:
        await conn.close()
    return time.perf_counter() - started


# --- the server ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kms_command() -> list[str]:
    script = Path(sys.executable).parent / "kms"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


class Server:
    """``kms serve --workers N`` in its own process group, on a free loopback port."""

    def __init__(self, env: dict[str, str], log_dir: Path, workers: int = 2) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "KMS_PUBLIC_URL": self.base}
        self.log_path = log_dir / f"server-{self.port}.log"
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """What to run; bench/catalog.py serves its plain endpoint through the same class."""
        return [
            *kms_command(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]

    def start(self) -> None:
        command = self.command()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log_tail()}")
            if len(self.worker_pids()) == self.workers and self._ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"the server was not ready within 60 s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.base}/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes: the supervisor's children started by multiprocessing's spawn."""
        if self.proc is None:
            return []
        pids = []
        for children in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            pids += [int(p) for p in children.read_text().split()]
        return [p for p in pids if b"spawn_main" in _read(f"/proc/{p}/cmdline")]

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-LOG_TAIL:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


@contextmanager
def serving(env: dict[str, str], log_dir: Path) -> Iterator[Server]:
    """A started server, stopped afterwards; its log is printed when something failed."""
    server = Server(env, log_dir)
    try:
        server.start()
        yield server
    except BaseException:
        print(f"--- server log (tail) ---\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB."""
    found = re.findall(rb"^(VmRSS|VmHWM):\s+(\d+) kB", _read(f"/proc/{pid}/status"), re.MULTILINE)
    return {name.decode(): int(value) for name, value in found}


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux: "5" to clear_refs); False where that is not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# --- the API -------------------------------------------------------------------------------------------


class Api:
    """One HTTP client (one keep-alive connection, so one worker serves all of its requests)."""

    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=httpx.Timeout(3600, connect=10))

    def close(self) -> None:
        self.client.close()

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = self.client.post("/graphql", json={"query": query, "variables": variables or {}})
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {json.dumps(body['errors'])[:2000]}")
        return body["data"]

    def login(self, email: str) -> None:
        if self.gql(LOGIN, {"email": email, "password": PASSWORD})["login"]["mustChangePassword"]:
            raise RuntimeError(f"{email} must change the password first")

    def download(self, url: str) -> tuple[int, int]:
        """Stream a download to nowhere; returns (bytes, lines)."""
        size = lines = 0
        with self.client.stream("GET", urlsplit(url).path) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                size += len(chunk)
                lines += chunk.count(b"\n")
        return size, lines


def import_rows(count: int) -> Iterator[dict[str, Any]]:
    """Half LoRaWAN (TOPAS Lora W8, AppKey), half wireless M-Bus (TOPAS wM-Bus, OMS key), each with its key."""
    for n in range(count):
        if n % 2:
            device_type, slot, attributes = "topas-sonic-wmbus", "OMS", {"mbusId": f"{n:08d}"}
        else:
            device_type, slot, attributes = "topas-sonic-lora-w8", "AppKey", {"devEui": f"{n:016X}"}
        yield {
            "serialNumber": f"BI{n:08d}",
            "deviceType": device_type,
            "attributes": json.dumps(attributes),
            "keys": [{"keyType": slot, "value": os.urandom(16).hex()}],
        }


@contextmanager
def timed(report: Report, name: str, target: float | None = None) -> Iterator[None]:
    """Add the seconds the block took to the report (nothing when it fails)."""
    started = time.perf_counter()
    yield
    report.add(name, time.perf_counter() - started, "s", target)


def release_and_download(api: Api, report: Report, label: str, target: float | None = None) -> tuple[int, int]:
    """Release every claimed key of the caller's organisation as CSV and stream the file; checks the line count."""
    started = time.perf_counter()
    with timed(report, f"release {label}: releaseKeys mutation"):
        release = api.gql(RELEASE)["releaseKeys"]
    with timed(report, f"release {label}: download (stream, count lines)"):
        size, lines = api.download(release["downloadUrl"])
    report.add(f"release {label}: mutation + download", time.perf_counter() - started, "s", target)
    keys = release["keyCount"]
    if lines != keys + 1 or release["refused"]:
        raise RuntimeError(f"release {label}: {lines} lines for {keys} keys, {len(release['refused'])} refused")
    report.notes.append(
        f"release {label}: {release['deviceCount']:,} devices, {keys:,} keys, {size:,} bytes, {lines:,} lines"
    )
    return keys, size


# --- the phases ----------------------------------------------------------------------------------------


def phase_import(env: dict[str, str], tmp: Path, accounts: dict[str, Account], rows: int, report: Report) -> None:
    with serving(env, tmp) as server:
        admin = Api(server.base)
        try:
            admin.login(accounts["admin"].email)
            payload = list(import_rows(rows))
            with timed(report, f"importDevices, {rows:,} rows in one call", 10.0):
                result = admin.gql(IMPORT, {"org": accounts["import"].organisation_id, "rows": payload})
        finally:
            admin.close()
        ids = [d["id"] for d in result["importDevices"]]
        if len(ids) != rows:
            raise RuntimeError(f"imported {len(ids)} of {rows}")
        manager = Api(server.base)
        try:
            manager.login(accounts["import"].email)
            with timed(report, f"claimDevices, {rows:,} ids in one call"):
                claim = manager.gql(CLAIM, {"ids": ids})["claimDevices"]
            if claim["claimedCount"] != rows:
                raise RuntimeError(f"claimed {claim['claimedCount']} of {rows}: {claim['refused'][:5]}")
            release_and_download(manager, report, f"{rows:,}", 3.0)
        finally:
            manager.close()


@dataclass
class Peak:
    keys: int
    baseline_kb: int  # VmRSS of the serving worker just before the release
    mutation_peak_kb: int | None  # VmHWM during the mutation (None where the peak cannot be reset)
    peak_kb: int  # VmHWM of the serving worker over its whole life, after mutation and download


def phase_memory(env: dict[str, str], tmp: Path, account: Account, label: str, report: Report) -> Peak:
    """A fresh server; the release and download of every key of ``account``'s organisation; worker memory."""
    with serving(env, tmp) as server:
        api = Api(server.base)
        try:
            api.login(account.email)
            return _measured_release(server, api, label, report)
        finally:
            api.close()


def _measured_release(server: Server, api: Api, label: str, report: Report) -> Peak:
    before = {pid: memory(pid) for pid in server.worker_pids()}
    resettable = all(reset_peak(pid) for pid in before)
    started = time.perf_counter()
    release = api.gql(RELEASE)["releaseKeys"]
    mutation_peaks = {pid: memory(pid)["VmHWM"] for pid in before}
    report.add(f"release {label}: releaseKeys mutation (fresh server)", time.perf_counter() - started, "s")
    started = time.perf_counter()
    size, lines = api.download(release["downloadUrl"])
    report.add(f"release {label}: download (fresh server)", time.perf_counter() - started, "s")
    if lines != release["keyCount"] + 1:
        raise RuntimeError(f"release {label}: {lines} lines for {release['keyCount']} keys")
    after = {pid: memory(pid) for pid in before}
    # The worker that served us is the one whose peak rose most over its resting size.
    pid = max(before, key=lambda p: after[p]["VmHWM"] - before[p]["VmRSS"])
    others = max((after[p]["VmHWM"] for p in before if p != pid), default=0)
    report.notes.append(
        f"release {label}: worker {pid} served it (RSS before {before[pid]['VmRSS'] / 1024:.1f} MB; the other "
        f"worker peaked at {others / 1024:.1f} MB); {release['keyCount']:,} keys, {size:,} bytes"
    )
    return Peak(
        release["keyCount"], before[pid]["VmRSS"], mutation_peaks[pid] if resettable else None, after[pid]["VmHWM"]
    )


def report_memory(report: Report, small: Peak, large: Peak) -> None:
    for peak in (small, large):
        label = f"{peak.keys:,} keys"
        report.add(f"worker RSS before release, {label}", peak.baseline_kb / 1024, "MB")
        if peak.mutation_peak_kb is not None:
            report.add(f"worker peak during releaseKeys, {label}", peak.mutation_peak_kb / 1024, "MB")
        report.add(f"worker peak (VmHWM) after download, {label}", peak.peak_kb / 1024, "MB")
        report.add(f"worker growth over its RSS, {label}", (peak.peak_kb - peak.baseline_kb) / 1024, "MB")
    report.add(
        f"peak growth {small.keys:,} -> {large.keys:,} keys (VmHWM difference)",
        (large.peak_kb - small.peak_kb) / 1024,
        "MB",
        50.0,
    )


# --- main ----------------------------------------------------------------------------------------------


def print_table(info: dict[str, str], report: Report) -> None:
    print("\n== Meter KMS key bench ==")
    for name, value in info.items():
        print(f"{name:12} {value}")
    width = max((len(f.name) for f in report.figures), default=10)
    print(f"\n{'figure':{width}}  {'measured':>14}  {'target':>10}  result")
    for f in report.figures:
        value = "-" if f.value is None else f"{f.value:,.2f} {f.unit}"
        target = "" if f.target is None else f"< {f.target:g} {f.unit}"
        print(f"{f.name:{width}}  {value:>14}  {target:>10}  {f.verdict()}")
    for note in report.notes:
        print(f"- {note}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="devices imported, claimed and released")
    parser.add_argument("--small", type=int, default=10_000, help="keys of the small memory release")
    parser.add_argument("--large", type=int, default=1_000_000, help="keys of the large memory release")
    add_pg_url(parser)
    parser.add_argument("--database", default="kms_bench", help="created, then dropped (must start with kms_bench)")
    args = parser.parse_args()
    if not re.fullmatch(r"kms_bench\w*", args.database):
        parser.error("--database must start with kms_bench: the bench drops it")
    return args


def run(args: argparse.Namespace, tmp: Path, report: Report) -> dict[str, str]:
    url = database_url(args.pg_url, args.database)
    env = {
        **os.environ,
        "KMS_DATABASE_URL": url,
        "KMS_DATA_DIR": str(tmp / "data"),
        "KMS_MAIL_WORKER": "off",
        "KMS_LOG_LEVEL": "WARNING",
        "KMS_KEK_PROVIDER": "file",
        "KMS_KEK_FILE": "",
    }
    os.environ.update(env)  # the ORM and the key store of this process read the same settings
    info = machine(asyncio.run(recreate_database(args.pg_url, args.database)))
    subprocess.run([*kms_command(), "migrate"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    accounts = asyncio.run(create_accounts(url))
    print(f"bench database {args.database} ready; data dir {tmp}", flush=True)
    phase_import(env, tmp, accounts, args.rows, report)
    print(f"seeding {args.small:,} + {args.large:,} claimed devices with COPY ...", flush=True)
    for label, count in (("small", args.small), ("large", args.large)):
        seconds = asyncio.run(seed_claimed(url, accounts[label].organisation_id, f"B{label[0].upper()}", count))
        report.notes.append(f"seeded {count:,} claimed devices with sealed keys (COPY) in {seconds:.1f} s")
    small = phase_memory(env, tmp, accounts["small"], f"{args.small:,}", report)
    large = phase_memory(env, tmp, accounts["large"], f"{args.large:,}", report)
    report_memory(report, small, large)
    return info


def main() -> int:
    args = parse_args()
    report = Report()
    info: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="kms-bench-") as tmp:
        try:
            info = run(args, Path(tmp), report)
        finally:
            asyncio.run(drop_database(args.pg_url, args.database))
            print_table(info, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
