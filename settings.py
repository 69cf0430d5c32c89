"""Settings from environment variables (see the table in README.md)."""

from __future__ import annotations

import logging
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
    session_absolute_seconds: int = field(default_factory=lambda: _env_int("KMS_SESSION_ABSOLUTE_SECONDS", 12 * 3600))
    login_account_limit: int = field(default_factory=lambda: _env_int("KMS_LOGIN_ACCOUNT_LIMIT", 5))
    login_address_limit: int = field(default_factory=lambda: _env_int("KMS_LOGIN_ADDRESS_LIMIT", 30))
    login_window_seconds: int = field(default_factory=lambda: _env_int("KMS_LOGIN_WINDOW_SECONDS", 900))
    max_query_depth: int = field(default_factory=lambda: _env_int("KMS_MAX_QUERY_DEPTH", 12))
    max_aliases: int = field(default_factory=lambda: _env_int("KMS_MAX_ALIASES", 30))
    max_tokens: int = field(default_factory=lambda: _env_int("KMS_MAX_TOKENS", 5000))
    max_page_size: int = field(default_factory=lambda: _env_int("KMS_MAX_PAGE_SIZE", 500))
    max_list_argument: int = field(default_factory=lambda: _env_int("KMS_MAX_LIST_ARGUMENT", 100_000))
    # the largest request body other than an upload (an import of 100,000 devices is about 25 MB of JSON)
    max_body_bytes: int = field(default_factory=lambda: _env_int("KMS_MAX_BODY_BYTES", 64 * 1024 * 1024))
    # objects one request may return, pages within pages multiplied (schema.extensions.query_cost)
    max_query_cost: int = field(default_factory=lambda: _env_int("KMS_MAX_QUERY_COST", 20_000))
    plugins: tuple[str, ...] = field(default_factory=lambda: _env_list("KMS_PLUGINS", "oms,lorawan"))
    # Key custody: "file" (a 0600 key file under data_dir, the embedded default), "env" (KMS_KEK) or "none"
    # (sealed: key import, generation, release and verification are refused, everything else works).
    kek_provider: str = field(default_factory=lambda: _env("KMS_KEK_PROVIDER", "file"))
    kek_file: str = field(default_factory=lambda: _env("KMS_KEK_FILE", ""))
    # kek_provider "pkcs11": the KEK lives in an HSM token as non-extractable AES-256 keys "<label>-v<N>".
    pkcs11_module: str = field(default_factory=lambda: _env("KMS_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so"))
    pkcs11_token_label: str = field(default_factory=lambda: _env("KMS_PKCS11_TOKEN_LABEL", ""))
    pkcs11_pin: str = field(default_factory=lambda: _env("KMS_PKCS11_PIN", ""), repr=False)
    pkcs11_key_label: str = field(default_factory=lambda: _env("KMS_PKCS11_KEY_LABEL", "kms-kek"))
    release_inline_limit: int = field(default_factory=lambda: _env_int("KMS_RELEASE_INLINE_LIMIT", 1000))
    download_ttl_seconds: int = field(default_factory=lambda: _env_int("KMS_DOWNLOAD_TTL_SECONDS", 300))
    log_level: str = field(default_factory=lambda: _env("KMS_LOG_LEVEL", "INFO"))
    # Mail: invites, the outbox worker and the secret that derives invite links.
    invite_ttl_hours: int = field(default_factory=lambda: _env_int("KMS_INVITE_TTL_HOURS", 72))
    mail_worker: str = field(default_factory=lambda: _env("KMS_MAIL_WORKER", "on"))
    mail_max_attempts: int = field(default_factory=lambda: _env_int("KMS_MAIL_MAX_ATTEMPTS", 8))
    mail_poll_seconds: int = field(default_factory=lambda: _env_int("KMS_MAIL_POLL_SECONDS", 2))
    support_email: str = field(default_factory=lambda: _env("KMS_SUPPORT_EMAIL", ""))
    secret_key: str = field(default_factory=lambda: _env("KMS_SECRET_KEY", ""), repr=False)

    def __post_init__(self) -> None:
        if not self.database_url:
            url = _env("KMS_DATABASE_URL", f"sqlite://{self.data_dir / 'kms.sqlite3'}")
            object.__setattr__(self, "database_url", url)

    @property
    def kek_path(self) -> Path:
        return Path(self.kek_file) if self.kek_file else self.data_dir / "kek.json"

    @property
    def mailbox_dir(self) -> Path:
        """Where the demo keeps mails when no SMTP server is configured."""
        return self.data_dir / "mailbox"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load() -> Settings:
    """Read the settings from the environment."""
    return Settings()


def configure_logging(settings: Settings) -> None:
    """Log lines with time, level and logger at ``KMS_LOG_LEVEL``, in every process: the command line's and
    each worker process of ``kms serve --workers N`` (which uvicorn starts afresh, with only its own loggers
    set up). Where the root logger has a handler already, it is left as it is."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
