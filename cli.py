"""The `kms` command line: serve, worker, mailbox, migrate, create-admin, demo."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import signal
import sys
from collections.abc import Sequence

from crypto import passwords
from models import db
from models.users import User
from resolvers import demo, keys, outbox
from resolvers.errors import KmsError
from resolvers.keystore import keystore, open_key_store, registry
from resolvers.smtp import Mailbox
from settings import Settings, configure_logging, load


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
    async def run() -> list[tuple[str, str, str]]:
        await open_key_store(settings)
        return await demo.seed(settings, keys=keystore(settings), registry=registry(settings.plugins))

    rows = asyncio.run(_with_db(settings, run))
    print("Demo logins (each must choose a new password at the first login):")
    for email, role, org in rows:
        print(f"  {email:42} {role:15} {org}")
    print(f"  initial password: {demo.DEMO_PASSWORD}")
    print(f"  catalog: {len(demo.CATALOG) + len(demo.PENDING)} devices; take ownership of {demo.PENDING_BATCH}")
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
        org = await demo.create_platform(args.organisation)
        return await demo.create_user(args.name, args.email, org, ["PLATFORM_ADMIN"], password, must_change=False)

    user = asyncio.run(_with_db(settings, run))
    if user is None:
        print(f"A user with the email {args.email} exists already.", file=sys.stderr)
        return 1
    print(f"PLATFORM_ADMIN {user.email} created in {args.organisation}.")
    return 0


def cmd_rotate_kek(settings: Settings, args: argparse.Namespace) -> int:
    """Add a KEK version and rewrap every data key under it; servers keep serving meanwhile."""
    try:
        new, count = asyncio.run(_with_db(settings, lambda: keys.rotate_kek(keystore(settings))))
    except KmsError as exc:  # e.g. sealed: no KEK to rotate from
        print(exc.message, file=sys.stderr)
        return 1
    print(f"KEK {new.kek_id} version {new.version} is current; {count} data keys rewrapped.")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers > 1 and settings.is_sqlite:
        # Each process would write the file through a connection of its own, and SQLite refuses a write that
        # meets another process's transaction ("database is locked") instead of waiting for it.
        print(
            "The embedded SQLite database serves one process: use --workers 1, or PostgreSQL "
            "(KMS_DATABASE_URL=postgres://...) for several workers or hosts.",
            file=sys.stderr,
        )
        return 2

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
    parser = argparse.ArgumentParser(prog="kms", description="Meter KMS: key management for smart-meter radio keys")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the API (and the console)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("demo", help="seed demo organisations, users and devices").set_defaults(func=cmd_demo)
    sub.add_parser("rotate-kek", help="add a KEK version and rewrap every data key").set_defaults(func=cmd_rotate_kek)
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
    configure_logging(settings)
    return int(args.func(settings, args))


if __name__ == "__main__":
    sys.exit(main())
