"""Log in and out, sessions, API token authentication and password changes."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from tortoise import connections
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.transactions import in_transaction

from crypto import passwords, tokens, totp
from crypto.secret import SecretBytes
from models import db
from models.auth import Session
from models.invites import AccountToken
from models.organisations import Organisation
from models.tokens import ApiToken
from models.users import User
from resolvers import _scope, audit, outbox, ratelimit
from resolvers.actor import Actor
from resolvers.errors import BadInput, Forbidden, KmsError
from resolvers.roles import grantable_roles, parse_roles
from settings import Settings

SESSION_COOKIE = "kms_session"
SESSION_PREFIX = "kms_s"
TOKEN_PREFIX = "kms_pat"
# Writing last-seen on every request would turn reads into writes; a minute's precision is enough
# for a 30-minute idle timeout.
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionPolicy:
    idle_seconds: int
    absolute_seconds: int
    login_account_limit: int
    login_address_limit: int
    login_window_seconds: int


def policy_from(settings: Settings) -> SessionPolicy:
    return SessionPolicy(
        settings.session_idle_seconds,
        settings.session_absolute_seconds,
        settings.login_account_limit,
        settings.login_address_limit,
        settings.login_window_seconds,
    )


def _now() -> datetime:
    return datetime.now(UTC)


def actor_for(user: User, organisation: Organisation, **kwargs: object) -> Actor:
    roles = parse_roles(user.role_list)
    via = str(kwargs.pop("via", "session"))
    return Actor(
        user_id=user.id,
        email=user.email,
        name=user.name,
        organisation_id=organisation.id,
        organisation_path=organisation.path,
        organisation_can_create=organisation.can_create_organisations,
        roles=frozenset(kwargs.pop("roles", roles)),  # type: ignore[call-overload]
        must_change_password=user.must_change_password and via == "session",
        via=via,
        **kwargs,  # type: ignore[arg-type]
    )


# Every request of a browser runs this lookup, so it is one hand-written statement instead of the ORM's
# select_related (building that query cost more CPU than the rest of a small request).
# On PostgreSQL it also reads the database's clock, against which the session's limits are checked: hosts
# whose clocks differ then agree on when a session ends (SQLite serves one host, whose clock it is).
_SESSION_SQL = """SELECT s.last_seen_at, s.expires_at, u.id AS user_id, u.email, u.name, u.roles,
  u.must_change_password, u.is_active, o.id AS organisation_id, o.path, o.can_create_organisations{now}
FROM sessions s JOIN users u ON u.id = s.user_id JOIN organisations o ON o.id = u.organisation_id
WHERE s.digest = {param}"""
_SESSION_STATEMENT = {
    "postgres": _SESSION_SQL.format(param="$1", now=", clock_timestamp() AS db_now"),
    "sqlite": _SESSION_SQL.format(param="?", now=""),
}


def _column(model: type[Model], field: str, value: Any) -> Any:
    """A raw column value as the ORM would give it (SQLite returns text for datetimes and UUIDs)."""
    return model._meta.fields_map[field].to_python_value(value)


async def _session_row(digest: str, lease: db.Lease | None) -> Mapping[str, Any] | None:
    """The session's row with its user and organisation, values typed as the ORM types them."""
    if lease is not None:  # PostgreSQL: asyncpg types every column already
        found = await (await lease.acquire()).fetch(_SESSION_STATEMENT["postgres"], digest)
        return cast(Mapping[str, Any], found[0]) if found else None
    if db.dialect() == "postgres":
        found = await db.pg_fetch(_SESSION_STATEMENT["postgres"], digest)
        return cast(Mapping[str, Any], found[0]) if found else None
    rows = await connections.get("default").execute_query_dict(_SESSION_STATEMENT["sqlite"], [digest])
    if not rows:
        return None
    row = dict(rows[0])
    for model, fields in _SESSION_TYPED.items():
        for column, field in fields:
            row[column] = _column(model, field, row[column])
    return row


_SESSION_TYPED: dict[type[Model], tuple[tuple[str, str], ...]] = {
    Session: (("last_seen_at", "last_seen_at"), ("expires_at", "expires_at")),
    User: (("user_id", "id"), ("is_active", "is_active"), ("must_change_password", "must_change_password")),
    Organisation: (("organisation_id", "id"), ("can_create_organisations", "can_create_organisations")),
}


async def actor_from_session(
    cookie: str, policy: SessionPolicy, client_address: str | None, lease: db.Lease | None = None
) -> Actor | None:
    """The actor of a session cookie, or None when it is unknown, idle for too long or too old. With a lease
    (PostgreSQL), every statement runs on the lease's connection."""
    digest = tokens.token_digest(cookie)
    row = await _session_row(digest, lease)
    if row is None:
        return None
    last_seen_at: datetime = row["last_seen_at"]
    now: datetime = row.get("db_now") or _now()
    idle_limit = last_seen_at + timedelta(seconds=policy.idle_seconds)
    if now >= row["expires_at"] or now >= idle_limit or not row["is_active"]:
        if lease is not None:
            await (await lease.acquire()).execute("DELETE FROM sessions WHERE digest = $1", digest)
        else:
            await Session.filter(digest=digest).delete()
        return None
    if now - last_seen_at >= _TOUCH_EVERY:
        if lease is not None:
            await (await lease.acquire()).execute(
                "UPDATE sessions SET last_seen_at = $1 WHERE digest = $2", now, digest
            )
        else:
            await Session.filter(digest=digest).update(last_seen_at=now)
    return Actor(
        user_id=row["user_id"],
        email=row["email"],
        name=row["name"],
        organisation_id=row["organisation_id"],
        organisation_path=row["path"],
        organisation_can_create=bool(row["can_create_organisations"]),
        roles=parse_roles(row["roles"].split(",")),
        must_change_password=bool(row["must_change_password"]),
        via="session",
        session_digest=digest,
        client_address=client_address,
    )


async def actor_from_token(bearer: str, client_address: str | None) -> Actor | None:
    """The actor of an API token: the token's roles, never more than its creator still holds."""
    token = await ApiToken.get_or_none(digest=tokens.token_digest(bearer)).select_related("created_by", "organisation")
    now = _now()
    if token is None or token.revoked_at is not None or (token.expires_at and token.expires_at <= now):
        return None
    creator = token.created_by
    # A token acts for the organisation it was made in, and only while its creator still belongs there.
    if not creator.is_active or creator.organisation_id != token.organisation_id:  # type: ignore[attr-defined]
        return None
    roles = parse_roles(token.role_list) & grantable_roles(parse_roles(creator.role_list))
    if token.last_used_at is None or now - token.last_used_at >= _TOUCH_EVERY:
        await ApiToken.filter(id=token.id).update(last_used_at=now)
    return actor_for(
        creator,
        token.organisation,
        via="token",
        roles=roles,
        token_id=token.id,
        token_prefix=token.prefix,
        client_address=client_address,
    )


async def _new_session(user: User, policy: SessionPolicy, client_address: str | None) -> str:
    cookie, digest = tokens.new_token(SESSION_PREFIX)
    now = await db.clock()  # the clock the session is checked against on every host
    await Session.create(
        digest=digest,
        user=user,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=policy.absolute_seconds),
        client_address=client_address,
    )
    return cookie


def _account_key(email: str) -> str:
    # Keyed by a digest of the typed email, so unknown addresses are throttled exactly like real ones.
    return "login-account:" + hashlib.sha256(email.encode()).hexdigest()


async def login(
    email: str,
    password: str,
    policy: SessionPolicy,
    client_address: str | None,
    *,
    otp: str | None = None,
    server: SecretBytes | None = None,
) -> tuple[User, str]:
    """Check the credentials (and the one-time code when the user has a second factor) and open a session;
    returns the user and the new cookie value. ``server`` is the server secret that seals OTP secrets."""
    email = email.strip().lower()
    address_key = "login-address:" + ratelimit.client_network(client_address)
    account_key = _account_key(email)
    window = policy.login_window_seconds
    # Every attempt is counted before the password is checked, so parallel attempts cannot all pass the limit;
    # one that does not fail gives its count back.
    by_address = await ratelimit.hit(address_key, window)
    if by_address.count > policy.login_address_limit:
        raise KmsError(
            "Too many login attempts from your address.",
            code="RATE_LIMITED",
            retryAfter=by_address.retry_after,
        )
    by_account = await ratelimit.hit(account_key, window)
    if by_account.count > policy.login_account_limit:
        await ratelimit.give_back(address_key)  # nothing was checked: a locked account costs its address nothing
        raise KmsError(
            "Too many failed logins. The account is locked for a while.",
            code="ACCOUNT_LOCKED",
            retryAfter=by_account.retry_after,
        )
    failed = True  # an unexpected error keeps the counts too
    try:
        user = await _check_credentials(email, password, otp, server)
        failed = False
    except KmsError as error:
        failed = error.code in ("INVALID_CREDENTIALS", "OTP_INVALID")
        raise
    finally:
        if not failed:
            await ratelimit.give_back(address_key)
            await ratelimit.give_back(account_key)
    return await _logged_in(user, password, policy, client_address, account_key)


async def _check_credentials(email: str, password: str, otp: str | None, server: SecretBytes | None) -> User:
    """The user whose credentials these are; a failure is audited and raised (its attempt is counted already)."""
    user = await User.get_or_none(email=email).select_related("organisation")
    if user is None:
        ok = await passwords.verify_dummy(password)  # same work as a wrong password: no enumeration
    else:
        ok = await passwords.verify_password(password, user.password_hash) and user.is_active
    if not ok or user is None:
        await _failed_login(user)
        raise KmsError("Email or password is wrong.", code="INVALID_CREDENTIALS")
    if user.otp_enabled_at is not None:
        if not otp:
            raise KmsError("Enter the one-time code from your authenticator app.", code="OTP_REQUIRED")
        if server is None:  # the server secret that seals second factors is missing: not the user's failure
            raise KmsError(
                "Second factors cannot be checked: the server secret is missing. Contact your administrator.",
                code="FORBIDDEN",
            )
        if not await _use_otp(user, otp, server):
            # A wrong code counts like a wrong password: the account locks before codes can be guessed.
            await _failed_login(user, reason="otp")
            raise KmsError("The one-time code is wrong or was used already.", code="OTP_INVALID")
    return user


async def _logged_in(
    user: User, password: str, policy: SessionPolicy, client_address: str | None, account_key: str
) -> tuple[User, str]:
    async with in_transaction():
        await ratelimit.reset(account_key)
        cookie = await _new_session(user, policy, client_address)
        user.last_login_at = _now()
        await user.save(update_fields=["last_login_at"])
        actor = actor_for(user, user.organisation, client_address=client_address)
        await audit.record("login.succeeded", actor, target=f"user:{user.id}")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash_password(password)
        await user.save(update_fields=["password_hash"])
    return user, cookie


async def _failed_login(user: User | None, *, reason: str | None = None) -> None:
    async with in_transaction():
        await audit.record(
            "login.failed",
            None,
            actor_label=f"user:{user.email}" if user else "unknown account",
            organisation_id=user.organisation.id if user else None,
            organisation_path=user.organisation.path if user else None,
            target=f"user:{user.id}" if user else None,
            details={"reason": reason} if reason else None,
        )


async def _use_otp(user: User, code: str, server: SecretBytes) -> bool:
    """Whether ``code`` is the user's current one-time code and not used before. The step is recorded with a
    conditional update, so two requests with the same code (on any server) cannot both pass."""
    if user.otp_secret is None:
        return False
    secret = totp.open_sealed(bytes(user.otp_secret), user_id=user.id, server=server)
    step = totp.accepted_step(secret, code, time.time(), after_step=user.otp_last_step)
    if step is None:
        return False
    fresh = Q(otp_last_step__isnull=True) | Q(otp_last_step__lt=step)
    updated = await User.filter(fresh, id=user.id, otp_enabled_at__isnull=False).update(otp_last_step=step)
    if updated:
        user.otp_last_step = step
    return updated == 1


@dataclass(frozen=True)
class OtpSetup:
    secret: str  # base32, for typing into an app
    uri: str  # otpauth://, for a QR code


@asynccontextmanager
async def _asked_again(user: User, policy: SessionPolicy) -> AsyncIterator[None]:
    """A password (and code) asked again of a signed-in caller is counted against the account like a login,
    so a stolen session or token cannot guess it without limit, and a locked account refuses it too. The
    block checks the secrets; when it passes, the attempt gives its count back."""
    key = _account_key(user.email)
    window = await ratelimit.hit(key, policy.login_window_seconds)
    if window.count > policy.login_account_limit:
        raise KmsError(
            "Too many failed attempts. The account is locked for a while.",
            code="ACCOUNT_LOCKED",
            retryAfter=window.retry_after,
        )
    try:
        yield
    except KmsError as error:
        if error.code not in ("INVALID_CREDENTIALS", "OTP_INVALID"):
            await ratelimit.give_back(key)  # not a guess (a weak new password, say)
        else:
            await _failed_login(user, reason="asked again")
        raise
    await ratelimit.give_back(key)


async def check_password_again(user: User, password: str, policy: SessionPolicy) -> None:
    """INVALID_CREDENTIALS unless ``password`` is the signed-in user's, counted like a login (_asked_again).
    ``user`` comes with its organisation (select_related), in which a failure is audited."""
    async with _asked_again(user, policy):
        await _password_again(user, password)


async def _password_again(user: User, password: str, message: str = "The password is wrong.") -> None:
    if not await passwords.verify_password(password, user.password_hash):
        raise KmsError(message, code="INVALID_CREDENTIALS")


async def start_otp_setup(
    actor: Actor, password: str, server: SecretBytes, issuer: str, policy: SessionPolicy
) -> OtpSetup:
    """A new secret for the caller's authenticator app; it takes effect once a code from it is confirmed.
    The password is asked again: an open session alone must not be enough to bind a second factor."""
    user = await User.get(id=actor.user_id).select_related("organisation")
    async with _asked_again(user, policy):
        await _password_again(user, password)
    if user.otp_enabled_at is not None:
        raise KmsError("A second factor is already set up. Turn it off first.", code="CONFLICT")
    secret = totp.new_secret()
    user.otp_secret = totp.seal(secret, user_id=user.id, server=server)
    user.otp_last_step = None
    await user.save(update_fields=["otp_secret", "otp_last_step"])
    return OtpSetup(totp.to_base32(secret), totp.provisioning_uri(secret, account=user.email, issuer=issuer))


async def confirm_otp_setup(actor: Actor, code: str, server: SecretBytes) -> User:
    """Turn the second factor on with a first code from the app."""
    user = await User.get(id=actor.user_id)
    if user.otp_enabled_at is not None:
        raise KmsError("A second factor is already set up.", code="CONFLICT")
    if user.otp_secret is None:
        raise BadInput("code", "Start the setup first.")
    secret = totp.open_sealed(bytes(user.otp_secret), user_id=user.id, server=server)
    step = totp.accepted_step(secret, code, time.time(), after_step=None)
    if step is None:
        raise KmsError("The one-time code is wrong. Check the time on your phone and try again.", code="OTP_INVALID")
    async with in_transaction():
        updated = await User.filter(id=user.id, otp_enabled_at__isnull=True, otp_secret=user.otp_secret).update(
            otp_enabled_at=_now(), otp_last_step=step
        )
        if updated != 1:
            raise KmsError("The setup changed meanwhile. Start again.", code="CONFLICT")
        await audit.record("otp.enabled", actor, target=f"user:{user.id}")
    return await User.get(id=user.id)


async def disable_otp(actor: Actor, password: str, code: str, server: SecretBytes, policy: SessionPolicy) -> User:
    """Turn the caller's second factor off, with the password and a current code."""
    user = await User.get(id=actor.user_id).select_related("organisation")
    async with _asked_again(user, policy):
        await _password_again(user, password)
        if user.otp_enabled_at is None:
            raise KmsError("No second factor is set up.", code="CONFLICT")
        if not await _use_otp(user, code, server):
            raise KmsError("The one-time code is wrong or was used already.", code="OTP_INVALID")
    async with in_transaction():
        await User.filter(id=user.id).update(otp_secret=None, otp_enabled_at=None, otp_last_step=None)
        await audit.record("otp.disabled", actor, target=f"user:{user.id}")
    return await User.get(id=user.id)


async def reset_user_otp(actor: Actor, user_id: str) -> User:
    """An administrator removes another user's second factor (a lost phone); the user sets it up again."""
    if actor.is_self(user_id):
        raise BadInput("id", "Turn your own second factor off in your profile, with a current code.")
    user = await _scope.user(actor, user_id)
    if not parse_roles(user.role_list) <= actor.grantable:
        raise Forbidden("This user holds a role above yours.")
    org = await Organisation.get(id=user.organisation_id)  # type: ignore[attr-defined]
    async with in_transaction():
        await User.filter(id=user.id).update(otp_secret=None, otp_enabled_at=None, otp_last_step=None)
        await audit.record(
            "otp.reset", actor, organisation_id=org.id, organisation_path=org.path, target=f"user:{user.id}"
        )
    return await User.get(id=user.id)


async def logout(actor: Actor) -> None:
    async with in_transaction():
        if actor.session_digest:
            await Session.filter(digest=actor.session_digest).delete()
        await audit.record("logout", actor, target=f"user:{actor.user_id}")


async def change_password(actor: Actor, current: str, new: str, policy: SessionPolicy) -> tuple[User, str | None]:
    """Change the caller's own password: every session of the user ends, and a browser caller gets a
    fresh one. Returns the user and the new cookie (None for API tokens)."""
    user = await User.get(id=actor.user_id).select_related("organisation")
    async with _asked_again(user, policy):
        await _password_again(user, current, "The current password is wrong.")
    if current == new:
        raise KmsError(
            "The new password must differ from the current one.",
            code="WEAK_PASSWORD",
            violations=["must differ from the current password"],
        )
    new_hash = await hash_new_password(new, user.email)
    async with in_transaction():
        await set_password_hash(user, new_hash, must_change=False)
        cookie = await _new_session(user, policy, actor.client_address) if actor.via == "session" else None
        await audit.record("password.changed", actor, target=f"user:{user.id}")
    return user, cookie


async def hash_new_password(password: str, email: str) -> str:
    """Apply the password policy and hash; WEAK_PASSWORD lists every rule that failed."""
    violations = passwords.check_policy(password, email)
    if violations:
        raise KmsError(
            "The password is too weak: " + "; ".join(violations) + ".",
            code="WEAK_PASSWORD",
            violations=violations,
        )
    return await passwords.hash_password(password)


async def set_password_hash(user: User, password_hash: str, *, must_change: bool) -> None:
    """Store a new password hash, end every session of the user (a password change revokes them) and queue
    the PASSWORD_CHANGED mail. Call it inside a transaction."""
    user.password_hash = password_hash
    user.must_change_password = must_change
    user.password_changed_at = _now()
    await user.save(update_fields=["password_hash", "must_change_password", "password_changed_at"])
    await Session.filter(user_id=user.id).delete()
    # reset links mailed before no longer set a password (one in a compromised mailbox would undo this)
    await AccountToken.filter(user_id=user.id, purpose="RESET_PASSWORD", used_at__isnull=True).update(used_at=_now())
    await outbox.notify_password_changed(user)  # in the caller's transaction, like the change itself
