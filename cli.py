"""The `kms` command line: serve, worker, mailbox, migrate, create-admin, demo."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
import uuid
from collections.abc import Sequence

from tortoise.transactions import in_transaction

from crypto import passwords
from models import db
from models.organisations import Organisation, Partnership
from models.users import User
from resolvers import audit, outbox
from resolvers.smtp import Mailbox
from settings import Settings, load

DEMO_PASSWORD = "Meter-Demo-2026!"  # every demo user must change it at the first login
DEMO_USERS = [
    ("Platform Admin", "platform@integra-metering.example", "IntegraDemo", "PLATFORM_ADMIN"),
    ("Demo Integra", "demo@integra-metering.example", "Stadtwerke Musterstadt", "OTC_ADMIN"),
    ("Kim Keymanager", "keys@stadtwerke-musterstadt.example", "Stadtwerke Musterstadt", "KEY_MANAGER"),
    ("Vera Viewer", "viewer@stadtwerke-musterstadt.example", "Stadtwerke Musterstadt", "VIEWER"),
    ("Nils Partner", "admin@nordic-heat.example", "Nordic Heat AB", "OTC_ADMIN"),
]


async def create_organisation(
    name: str, *, parent: Organisation | None = None, can_create: bool = False, reference: str | None = None
) -> Organisation:
    existing = await Organisation.get_or_none(name=name, parent_id=parent.id if parent else None)
    if existing:
        return existing
    new_id = uuid.uuid4()
    path = f"{parent.path if parent else '/'}{new_id}/"
    return await Organisation.create(
        id=new_id,
        name=name,
        parent=parent,
        path=path,
        can_create_organisations=can_create,
        your_reference=reference,
    )


async def create_user(
    name: str, email: str, organisation: Organisation, roles: list[str], password: str, *, must_change: bool
) -> User:
    password_hash = await passwords.hash_password(password)
    async with in_transaction():
        user = await User.create(
            name=name,
            email=email.lower(),
            organisation=organisation,
            roles=User.encode_roles(roles),
            password_hash=password_hash,
            must_change_password=must_change,
        )
        await audit.record(
            "user.created",
            None,
            actor_label="cli",
            organisation_id=organisation.id,
            organisation_path=organisation.path,
            target=f"user:{user.id}",
            details={"email": user.email, "roles": roles},
        )
    return user


async def seed_demo() -> list[tuple[str, str, str]]:
    """Create the demo organisations and users if they are missing; returns (email, role, org) rows."""
    platform = await create_organisation("IntegraDemo", can_create=True)
    customer = await create_organisation("Stadtwerke Musterstadt", parent=platform, reference="SWM-4711")
    partner = await create_organisation("Nordic Heat AB", can_create=False)
    await Partnership.get_or_create(organisation=platform, partner=partner)
    orgs = {o.name: o for o in (platform, customer, partner)}
    rows = []
    for name, email, org_name, role in DEMO_USERS:
        if not await User.exists(email=email):
            await create_user(name, email, orgs[org_name], [role], DEMO_PASSWORD, must_change=True)
        rows.append((email, role, org_name))
    return rows


async def _with_db(settings: Settings, coroutine_factory):  # type: ignore[no-untyped-def]
    await db.init(settings.database_url)
    try:
        return await coroutine_factory()
    finally:
        await db.close()


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(db.migrate(settings.database_url))
    print(f"database migrated: {_safe_url(settings.database_url)}")
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    rows = asyncio.run(_with_db(settings, seed_demo))
    print("Demo logins (each must choose a new password at the first login):")
    for email, role, org in rows:
        print(f"  {email:42} {role:15} {org}")
    print(f"  initial password: {DEMO_PASSWORD}")
    return 0


def cmd_create_admin(settings: Settings, args: argparse.Namespace) -> int:
    password = os.environ.get("KMS_ADMIN_PASSWORD") or getpass.getpass("Password: ")
    violations = passwords.check_policy(password, args.email)
    if violations:
        print("The password is too weak: " + "; ".join(violations), file=sys.stderr)
        return 2

    async def run() -> User | None:
        if await User.exists(email=args.email.lower()):
            return None
        org = await create_organisation(args.organisation, can_create=True)
        return await create_user(args.name, args.email, org, ["PLATFORM_ADMIN"], password, must_change=False)

    user = asyncio.run(_with_db(settings, run))
    if user is None:
        print(f"A user with the email {args.email} exists already.", file=sys.stderr)
        return 1
    print(f"PLATFORM_ADMIN {user.email} created in {args.organisation}.")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run(
        "app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        log_level=settings.log_level.lower(),
    )
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Send queued mails until SIGINT or SIGTERM (for deployments that run KMS_MAIL_WORKER=off servers)."""

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await outbox.run_worker(settings, stop)

    asyncio.run(_with_db(settings, run))
    return 0


def cmd_mailbox(settings: Settings, args: argparse.Namespace) -> int:
    """Print the latest mails of the demo mailbox (used when no SMTP server is configured)."""
    entries = Mailbox(settings.mailbox_dir).latest(args.count)
    if not entries:
        print(f"The mailbox {settings.mailbox_dir} is empty.")
    for entry in entries:
        print(f"=== {entry.date.isoformat(timespec='seconds')}  To: {entry.to}")
        print(f"Subject: {entry.subject}\n")
        print(entry.text.strip() + "\n")
    return 0


def _safe_url(url: str) -> str:
    """The database URL without its password, for printing."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
    return url


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kms", description="Meter KMS: key management for smart-meter radio keys"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the API (and the console)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("demo", help="seed demo organisations and users").set_defaults(func=cmd_demo)
    sub.add_parser("worker", help="send queued mails (the outbox) until stopped").set_defaults(func=cmd_worker)
    mailbox = sub.add_parser("mailbox", help="print the latest mails of the demo mailbox")
    mailbox.add_argument("-n", "--count", type=int, default=5)
    mailbox.set_defaults(func=cmd_mailbox)
    admin = sub.add_parser(
        "create-admin", help="create a PLATFORM_ADMIN (password from KMS_ADMIN_PASSWORD or a prompt)"
    )
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", required=True)
    admin.add_argument("--organisation", required=True)
    admin.set_defaults(func=cmd_create_admin)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return int(args.func(settings, args))


if __name__ == "__main__":
    sys.exit(main())
