"""Database set-up: the Tortoise configuration, start, migrations and shutdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tortoise import Tortoise, connections
from tortoise.migrations.api import migrate as tortoise_migrate

from models import MODEL_MODULES


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The Tortoise configuration for one database URL (sqlite://path or postgres://...)."""
    if database_url.startswith("sqlite://") and not database_url.startswith("sqlite://:memory:"):
        Path(database_url.removeprefix("sqlite://")).parent.mkdir(parents=True, exist_ok=True)
    return {
        "connections": {"default": database_url},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# For the `tortoise` command line (makemigrations): `tortoise -c models.db.TORTOISE_ORM makemigrations`.
TORTOISE_ORM = tortoise_config("sqlite://data/kms.sqlite3")


async def migrate(database_url: str) -> None:
    """Apply every migration (the same files on SQLite and PostgreSQL)."""
    try:
        await tortoise_migrate(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()


async def init(database_url: str) -> None:
    """Open the connections for serving (migrations are applied separately by `kms migrate`)."""
    # The lifespan task opens the connections; request tasks must see them too, hence the global fallback.
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def close() -> None:
    await Tortoise.close_connections()


def dialect() -> str:
    """'sqlite' or 'postgres', for the few statements written by hand."""
    return str(connections.get("default").capabilities.dialect)
