"""Accounts by mail: password reset links and confirmation of a changed email address.

Reset and confirmation tokens are random (``crypto.tokens.new_token``), stored only as digests, single use
and short-lived. ``request_password_reset`` answers the same, after the same work, whether the address belongs
to somebody or not: it only queues the request, and the mail worker looks the address up.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Final
from uuid import UUID

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from crypto import tokens
from models.accounts import PasswordResetRequest
from models.invites import AccountToken
from models.organisations import Organisation
from models.users import User
from resolvers import audit, outbox, ratelimit
from resolvers.actor import Actor
from resolvers.auth import SessionPolicy, check_password_again, hash_new_password, set_password_hash
from resolvers.errors import BadInput, KmsError, duplicate_of
from settings import Settings, load

RESET_PASSWORD: Final = "RESET_PASSWORD"
CONFIRM_EMAIL: Final = "CONFIRM_EMAIL"
RESET_TTL: Final = timedelta(hours=1)
CONFIRM_TTL: Final = timedelta(hours=24)
RESET_PREFIX: Final = "kms_rst"
CONFIRM_PREFIX: Final = "kms_cfm"
# Reset mails per account and hour: enough for a person, too few to flood an inbox.
RESET_MAILS_PER_HOUR: Final = 5
# Reset requests per client network and hour (an IPv4 address, an IPv6 /64): the queue's bound against a flood.
RESET_REQUESTS_PER_CLIENT: Final = 30
ADDRESS_MAX: Final = 320


class TokenInvalid(KmsError):
    code = "TOKEN_INVALID"

    def __init__(self) -> None:
        super().__init__("This link is not valid any more. It may have been used or expired; ask for a new one.")


def _link(settings: Settings, page: str, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/{page}?token={token}"


async def _audit_for(action: str, user: User, actor: Actor | None = None, **details: object) -> None:
    org = await Organisation.get(id=user.organisation_id)  # type: ignore[attr-defined]
    await audit.record(
        action,
        actor,
        actor_label=None if actor else f"user:{user.email}",
        organisation_id=org.id,
        organisation_path=org.path,
        target=f"user:{user.id}",
        details=dict(details),
    )


async def request_password_reset(settings: Settings, email: str, client_address: str | None) -> bool:
    """Queue a reset request; the mail worker mails a link if the address belongs to an active user
    (``prepare_reset_mails``). Always True, and the same work whatever the address: nothing here looks it up,
    so neither the answer nor its time tells whether somebody has an account."""
    address = email.strip().lower()
    if not address or len(address) > ADDRESS_MAX:
        return True
    window = await ratelimit.hit("reset-request:" + ratelimit.client_network(client_address), 3600)
    if window.count > RESET_REQUESTS_PER_CLIENT:
        return True  # the same answer; the queue is not flooded from one network
    await PasswordResetRequest.create(address=address)
    return True


async def prepare_reset_mails(settings: Settings, *, batch: int = 100, rounds: int = 20) -> int:
    """The mail worker's first step: turn queued reset requests into mails, each in one transaction with
    taking the request off the queue, ``batch`` at a time while full batches come (at most ``rounds``).
    Returns how many requests were taken."""
    taken = 0
    for _ in range(rounds):
        requests = await PasswordResetRequest.all().limit(batch)
        for request in requests:
            async with in_transaction():
                # Of two workers that read the same request, only the one whose delete removes it goes on.
                if not await PasswordResetRequest.filter(id=request.id).delete():
                    continue
                taken += 1
                await _mail_reset_link(settings, request)
        if len(requests) < batch:
            break
    return taken


async def _mail_reset_link(settings: Settings, request: PasswordResetRequest) -> None:
    """Mail a single-use reset link if the request is fresh and its address belongs to an active user."""
    now = datetime.now(UTC)
    if request.created_at <= now - RESET_TTL:
        return  # a link mailed now would answer a request its sender has long given up on
    user = await User.get_or_none(email=request.address, is_active=True)
    if user is None:
        return
    throttle = await ratelimit.hit("reset-mail:" + hashlib.sha256(request.address.encode()).hexdigest(), 3600)
    if throttle.count > RESET_MAILS_PER_HOUR:
        return  # the inbox is not flooded
    token, digest = tokens.new_token(RESET_PREFIX)
    expires_at = now + RESET_TTL
    await AccountToken.create(user=user, purpose=RESET_PASSWORD, digest=digest, expires_at=expires_at)
    await outbox.mail_user(
        "RESET_PASSWORD",
        user,
        {"action_link": _link(settings, "reset-password", token), "expires_at": outbox.format_time(expires_at)},
        settings=settings,
    )
    await _audit_for("password.reset_requested", user)


async def _consume(token: str, purpose: str) -> AccountToken:
    """Mark a token used, once; TOKEN_INVALID when unknown, used, expired or made for something else."""
    now = datetime.now(UTC)
    found = await AccountToken.get_or_none(digest=tokens.token_digest(token.strip())) if token.strip() else None
    if found is None or found.purpose != purpose or found.used_at is not None or found.expires_at <= now:
        raise TokenInvalid()
    # Of two concurrent uses, one changes the row; the other gets TOKEN_INVALID.
    if not await AccountToken.filter(id=found.id, used_at__isnull=True, expires_at__gt=now).update(used_at=now):
        raise TokenInvalid()
    return found


async def _check_token(token: str, purpose: str) -> AccountToken:
    now = datetime.now(UTC)
    found = await AccountToken.get_or_none(digest=tokens.token_digest(token.strip())) if token.strip() else None
    if found is None or found.purpose != purpose or found.used_at is not None or found.expires_at <= now:
        raise TokenInvalid()
    return found


async def _expire(user_id: UUID, *purposes: str) -> None:
    """Use up every open link of these purposes of the user."""
    await AccountToken.filter(user_id=user_id, purpose__in=purposes, used_at__isnull=True).update(
        used_at=datetime.now(UTC)
    )


async def reset_password(token: str, new_password: str) -> bool:
    """Set a new password with a reset link: every session ends, and a PASSWORD_CHANGED mail follows."""
    checked = await _check_token(token, RESET_PASSWORD)
    user = await User.get(id=checked.user_id)  # type: ignore[attr-defined]
    if not user.is_active:
        raise TokenInvalid()
    # The policy is checked before the token is used up: a weak password does not cost the link.
    password_hash = await hash_new_password(new_password, user.email)
    async with in_transaction():
        await _consume(token, RESET_PASSWORD)
        # Any other reset link of this user dies with this one.
        await AccountToken.filter(user_id=user.id, purpose=RESET_PASSWORD, used_at__isnull=True).update(
            used_at=datetime.now(UTC)
        )
        await set_password_hash(user, password_hash, must_change=False)
        await _audit_for("password.reset", user)
    return True


async def request_email_change(actor: Actor, user: User, new_email: str, settings: Settings | None = None) -> None:
    """Mail a confirmation link to ``new_email``; the address changes only when it is confirmed.
    Call it inside the transaction of the profile update."""
    settings = settings or load()
    token, digest = tokens.new_token(CONFIRM_PREFIX)
    expires_at = datetime.now(UTC) + CONFIRM_TTL
    # Only the change asked for last can be confirmed: a link mailed to a mistyped address dies with it.
    await _expire(user.id, CONFIRM_EMAIL)
    await AccountToken.create(
        user=user, purpose=CONFIRM_EMAIL, digest=digest, new_email=new_email, expires_at=expires_at
    )
    await outbox.mail_user(
        "CONFIRM_EMAIL",
        user,
        {"action_link": _link(settings, "confirm-email", token), "expires_at": outbox.format_time(expires_at)},
        to=new_email,
        settings=settings,
    )
    await _audit_for("user.email_change_requested", user, actor)


async def change_own_email(
    actor: Actor, current_password: str, new_email: str, policy: SessionPolicy, settings: Settings
) -> User:
    """A user moves their own account to another address: the password is asked again (counted like a login),
    so an open session alone cannot send the account's mail, and with it its password resets, to an address
    its holder reads; the change takes effect when confirmed with the link mailed to the new address."""
    user = await User.get(id=actor.user_id).select_related("organisation")  # (a failure is audited there)
    address = outbox.checked_address(new_email, "newEmail").lower()
    await check_password_again(user, current_password, policy)
    if address == user.email:
        raise BadInput("newEmail", "This is your address already.")
    if await User.exists(email=address):
        raise KmsError("Another user has this email.", code="EMAIL_TAKEN", field="newEmail")
    async with in_transaction():
        await request_email_change(actor, user, address, settings)
    return user


async def confirm_email(token: str) -> bool:
    """Apply a pending email change with the link mailed to the new address."""
    checked = await _check_token(token, CONFIRM_EMAIL)
    new_email = checked.new_email or ""
    if await User.exists(email=new_email):
        raise KmsError("Another user has this email.", code="EMAIL_TAKEN", field="email")
    try:
        async with in_transaction():
            await _consume(token, CONFIRM_EMAIL)
            user = await User.get(id=checked.user_id)  # type: ignore[attr-defined]
            user.email = new_email
            await user.save(update_fields=["email"])
            # Links mailed to the old address (a password reset, another change) no longer work.
            await _expire(user.id, CONFIRM_EMAIL, RESET_PASSWORD)
            await _audit_for("user.email_confirmed", user)
    except IntegrityError as exc:
        if not duplicate_of(exc, "users", "email"):
            raise
        raise KmsError("Another user has this email.", code="EMAIL_TAKEN", field="email") from None
    return True
