"""Settings from environment variables (see the table in README.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _env_list(name: str, default: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in _env(name, default).split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    """Runtime settings. Read once with :func:`load`; nothing here is mutated at run time."""

    data_dir: Path = field(default_factory=lambda: Path(_env("KMS_DATA_DIR", str(ROOT / "data"))))
    database_url: str = ""
    public_url: str = field(default_factory=lambda: _env("KMS_PUBLIC_URL", "http://127.0.0.1:8000"))
    cookie_secure: str = field(default_factory=lambda: _env("KMS_COOKIE_SECURE", "auto"))
    session_idle_seconds: int = field(default_factory=lambda: _env_int("KMS_SESSION_IDLE_SECONDS", 30 * 60))
    session_absolute_seconds: int = field(
        default_factory=lambda: _env_int("KMS_SESSION_ABSOLUTE_SECONDS", 12 * 3600)
    )
    login_account_limit: int = field(default_factory=lambda: _env_int("KMS_LOGIN_ACCOUNT_LIMIT", 5))
    login_address_limit: int = field(default_factory=lambda: _env_int("KMS_LOGIN_ADDRESS_LIMIT", 30))
    login_window_seconds: int = field(default_factory=lambda: _env_int("KMS_LOGIN_WINDOW_SECONDS", 900))
    max_query_depth: int = field(default_factory=lambda: _env_int("KMS_MAX_QUERY_DEPTH", 12))
    max_aliases: int = field(default_factory=lambda: _env_int("KMS_MAX_ALIASES", 30))
    max_tokens: int = field(default_factory=lambda: _env_int("KMS_MAX_TOKENS", 5000))
    max_page_size: int = field(default_factory=lambda: _env_int("KMS_MAX_PAGE_SIZE", 500))
    max_list_argument: int = field(default_factory=lambda: _env_int("KMS_MAX_LIST_ARGUMENT", 100_000))
    plugins: tuple[str, ...] = field(default_factory=lambda: _env_list("KMS_PLUGINS", "oms,lorawan"))
    # Key custody: "file" (a 0600 key file under data_dir, the embedded default), "env" (KMS_KEK) or "none"
    # (sealed: key import, generation, release and verification are refused, everything else works).
    kek_provider: str = field(default_factory=lambda: _env("KMS_KEK_PROVIDER", "file"))
    kek_file: str = field(default_factory=lambda: _env("KMS_KEK_FILE", ""))
    release_inline_limit: int = field(default_factory=lambda: _env_int("KMS_RELEASE_INLINE_LIMIT", 1000))
    download_ttl_seconds: int = field(default_factory=lambda: _env_int("KMS_DOWNLOAD_TTL_SECONDS", 300))
    log_level: str = field(default_factory=lambda: _env("KMS_LOG_LEVEL", "INFO"))

    def __post_init__(self) -> None:
        if not self.database_url:
            url = _env("KMS_DATABASE_URL", f"sqlite://{self.data_dir / 'kms.sqlite3'}")
            object.__setattr__(self, "database_url", url)

    @property
    def kek_path(self) -> Path:
        return Path(self.kek_file) if self.kek_file else self.data_dir / "kek.json"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load() -> Settings:
    """Read the settings from the environment."""
    return Settings()
