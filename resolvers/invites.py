"""Invites (manual 9.4, 9.5): a PREPARED invite with a signup link, sent by mail (SENT), cancelled, expired
or accepted once.

The signup token is not stored: it is base64url(HMAC-SHA256(server secret, "invite:" + invite id)), so the
review page can show the link again, and only its SHA-256 digest is kept to find the invite. Roles on an
invite are at most the inviter's own; organisations at most those the inviter may manage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from crypto import server_secret
from crypto.secret import SecretBytes
from models.email_templates import EmailTemplate
from models.invites import Invite
from models.organisations import Organisation
from models.users import User
from resolvers import _scope, audit, email_rendering, keystore, outbox
from resolvers.actor import Actor
from resolvers.auth import actor_for, hash_new_password
from resolvers.errors import BadInput, Forbidden, KmsError, duplicate_of
from resolvers.pagination import Page, paginate
from resolvers.roles import Permission, Role, grantable_roles, parse_roles
from resolvers.validation import checked_language, checked_name
from settings import Settings

PREPARED: Final = "PREPARED"
SENT: Final = "SENT"
ACCEPTED: Final = "ACCEPTED"
CANCELLED: Final = "CANCELLED"
EXPIRED: Final = "EXPIRED"
OPEN_STATES: Final = (PREPARED, SENT)


class TokenInvalid(KmsError):
    code = "TOKEN_INVALID"

    def __init__(self, what: str = "This link") -> None:
        super().__init__(f"{what} is not valid any more. It may have been used, cancelled or expired.")


def secret_of(settings: Settings) -> SecretBytes:
    """The server secret (see resolvers/keystore.py)."""
    return keystore.server_secret(settings)


def signup_token(settings: Settings, invite_id: uuid.UUID, email: str | None) -> str:
    """The invite's link token, bound to the address it goes to: sent again to a corrected address, the invite
    gets a new link, and the one mailed to the mistyped address stops working."""
    digest = server_secret.mac(secret_of(settings), b"invite:" + invite_id.bytes + b":" + (email or "").encode())
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _legacy_token(settings: Settings, invite_id: uuid.UUID) -> str:
    """The link token of invites made before links were bound to the address (still open ones keep working)."""
    digest = server_secret.mac(secret_of(settings), b"invite:" + invite_id.bytes)
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def current_token(settings: Settings, invite: Invite) -> str:
    """The token of the invite's link as it stands (its stored digest says which)."""
    token = signup_token(settings, invite.id, invite.email)
    if token_digest(token) != invite.token_digest:
        legacy = _legacy_token(settings, invite.id)
        if token_digest(legacy) == invite.token_digest:
            return legacy
    return token


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def signup_link(settings: Settings, invite: Invite) -> str:
    return f"{settings.public_url.rstrip('/')}/signup?token={current_token(settings, invite)}"


def state_of(invite: Invite, now: datetime | None = None) -> str:
    """The stored state, or EXPIRED for an open invite whose time is up."""
    if invite.state in OPEN_STATES and invite.expires_at <= (now or datetime.now(UTC)):
        return EXPIRED
    return invite.state


def _email(value: str | None, field: str = "email") -> str | None:
    if value is None or not value.strip():
        return None
    return outbox.checked_address(value, field).lower()


def _grant(actor: Actor, roles: list[str]) -> frozenset[Role]:
    wanted = parse_roles(roles)
    if not wanted or len(wanted) != len(set(roles)):
        raise BadInput("roles", "Give at least one known role.")
    if not wanted <= actor.grantable:
        raise Forbidden("You cannot grant a role you do not hold.")
    return wanted


async def _email_taken(email: str | None) -> None:
    if email and await User.exists(email=email):
        raise KmsError("Another user has this email.", code="EMAIL_TAKEN", field="email")


async def _organisation(invite: Invite) -> Organisation:
    return await Organisation.get(id=invite.organisation_id)  # type: ignore[attr-defined]


async def _record(action: str, actor: Actor, invite: Invite) -> None:
    org = await _organisation(invite)
    await audit.record(action, actor, organisation_id=org.id, organisation_path=org.path, target=f"invite:{invite.id}")


async def list_invites(actor: Actor, *, first: int | None, after: str | None) -> Page[Invite]:
    return await paginate(_scope.invites(actor), ("-created_at", "id"), first=first, after=after)


async def get_invite(actor: Actor, invite_id: str) -> Invite:
    return await _scope.invite(actor, invite_id)


async def invitable_organisations(actor: Actor) -> list[Organisation]:
    return list(await _scope.organisations(actor).order_by("name", "id").limit(1000))


async def template_for(invite: Invite) -> EmailTemplate:
    return await outbox.resolve_template("INVITE_USER", invite.language, invite.organisation_id)  # type: ignore[attr-defined]


async def mail_values(invite: Invite, settings: Settings, inviter_name: str) -> dict[str, str]:
    org = await _organisation(invite)
    return {
        "user_name": invite.name,
        "organisation_name": org.name,
        "inviter_name": inviter_name,
        "action_link": signup_link(settings, invite),
        "expires_at": outbox.format_time(invite.expires_at),
    }


async def preview(invite: Invite, settings: Settings, inviter_name: str) -> email_rendering.RenderedEmail:
    values = {**outbox.common_values(settings), **await mail_values(invite, settings, inviter_name)}
    return outbox.render(await template_for(invite), values, invite.language)


async def create_invite(
    actor: Actor,
    settings: Settings,
    *,
    name: str,
    email: str | None,
    organisation_id: str,
    roles: list[str],
    language: str,
) -> Invite:
    name = checked_name(name)
    org = await _scope.organisation(actor, organisation_id)
    granted = _grant(actor, roles)
    checked_language(language)
    address = _email(email)
    await _email_taken(address)
    invite_id = uuid.uuid4()
    async with in_transaction():
        invite = await Invite.create(
            id=invite_id,
            name=name,
            email=address,
            organisation=org,
            roles=User.encode_roles({r.value for r in granted}),
            language=language,
            state=PREPARED,
            token_digest=token_digest(signup_token(settings, invite_id, address)),
            expires_at=datetime.now(UTC) + timedelta(hours=settings.invite_ttl_hours),
            created_by_id=actor.user_id,
        )
        await audit.record(
            "invite.created",
            actor,
            organisation_id=org.id,
            organisation_path=org.path,
            target=f"invite:{invite.id}",
            details={"roles": sorted(r.value for r in granted), "language": language},
        )
    return invite


@dataclass(frozen=True)
class InviteChanges:
    """What ``update_invite`` changes; None leaves a field as it is (an empty email removes the address)."""

    name: str | None = None
    email: str | None = None
    organisation_id: str | None = None
    roles: list[str] | None = None
    language: str | None = None


async def update_invite(actor: Actor, settings: Settings, invite_id: str, changes: InviteChanges) -> Invite:
    """Correct an invite that has not been sent yet (manual 9.4: "Review your information and complete as
    necessary"). A sent invite's mail is out with its link, so it is cancelled and prepared again instead.
    The administrator who corrects it becomes its inviter, whose rights its roles follow (as for sending)."""
    invite = await _scope.invite(actor, invite_id)
    if state_of(invite) != PREPARED:
        raise BadInput("id", "Only an invite that has not been sent can be changed; cancel it and prepare a new one.")
    updated: dict[str, object] = {}
    if changes.name is not None:
        updated["name"] = checked_name(changes.name)
    if changes.organisation_id is not None:
        updated["organisation_id"] = (await _scope.organisation(actor, changes.organisation_id)).id
    if changes.roles is not None:
        updated["roles"] = User.encode_roles({r.value for r in _grant(actor, changes.roles)})
    if changes.language is not None:
        updated["language"] = checked_language(changes.language)
    if changes.email is not None:
        address = _email(changes.email)
        await _email_taken(address)
        # the link is bound to the address (signup_token)
        updated |= {"email": address, "token_digest": token_digest(signup_token(settings, invite.id, address))}
    if not updated:
        return invite
    fields = sorted("organisationId" if f == "organisation_id" else f for f in updated if f != "token_digest")
    updated["created_by_id"] = actor.user_id  # whoever corrects it vouches for it, as a sender does
    before = await _organisation(invite)
    async with in_transaction():
        if not await Invite.filter(id=invite.id, state=PREPARED).update(**updated):
            raise KmsError("This invite was sent, cancelled or changed meanwhile; reload it.", code="CONFLICT")
        await invite.refresh_from_db()
        after = await _organisation(invite) if "organisation_id" in updated else before
        # moved to another organisation: both organisations' logs show it
        for org in (before, after) if after.id != before.id else (after,):
            await audit.record(
                "invite.updated",
                actor,
                organisation_id=org.id,
                organisation_path=org.path,
                target=f"invite:{invite.id}",
                details={"fields": fields},
            )
    return invite


def _require_open(invite: Invite) -> None:
    state = state_of(invite)
    if state not in OPEN_STATES:
        raise BadInput("id", f"This invite is {state.lower()}; prepare a new one.")


async def send_invite(actor: Actor, settings: Settings, invite_id: str, email: str | None) -> Invite:
    """Mail the invite (to ``email`` if given, which is then saved on the invite); it becomes SENT, and its time
    limit starts again from now ("activated when email is sent", manual 9.4), also when it is sent again.
    The sender becomes the inviter whose rights the invite's roles follow (``_inviter_still_grants``): an
    invite whose first inviter has left works again once another administrator who sees it sends it."""
    invite = await _scope.invite(actor, invite_id)
    _require_open(invite)
    address = _email(email) or invite.email
    if not address:
        raise BadInput("email", "Give the address to send the invitation to.")
    await _email_taken(address)
    async with in_transaction():
        now = datetime.now(UTC)
        updated = await Invite.filter(id=invite.id, state__in=OPEN_STATES).update(
            state=SENT,
            email=address,
            sent_at=now,
            expires_at=now + timedelta(hours=settings.invite_ttl_hours),
            token_digest=token_digest(signup_token(settings, invite.id, address)),
            created_by_id=actor.user_id,
        )
        if not updated:  # cancelled or accepted meanwhile
            raise BadInput("id", "This invite was changed meanwhile; reload it.")
        await invite.refresh_from_db()
        await outbox.enqueue(
            "INVITE_USER",
            to=address,
            language=invite.language,
            organisation_id=invite.organisation_id,  # type: ignore[attr-defined]
            values=await mail_values(invite, settings, actor.name),
            settings=settings,
        )
        await _record("invite.sent", actor, invite)
    return invite


async def cancel_invite(actor: Actor, invite_id: str) -> Invite:
    invite = await _scope.invite(actor, invite_id)
    if invite.state == CANCELLED:
        return invite
    if invite.state == ACCEPTED:
        raise BadInput("id", "This invite was accepted already.")
    async with in_transaction():
        if not await Invite.filter(id=invite.id, state__in=OPEN_STATES).update(state=CANCELLED):
            raise BadInput("id", "This invite was accepted already.")
        await invite.refresh_from_db()
        await _record("invite.cancelled", actor, invite)
    return invite


async def find_by_token(settings: Settings, token: str) -> Invite:
    """The open, unexpired invite of a signup token, or TOKEN_INVALID."""
    invite = await Invite.get_or_none(token_digest=token_digest(token)) if token else None
    # The digest lookup finds the row; the recomputed token is compared in constant time as well, so a row
    # whose digest was planted or copied in the database does not accept a token made for another invite.
    expected = current_token(settings, invite) if invite else ""
    if invite is None or not hmac.compare_digest(expected.encode(), token.encode()):
        raise TokenInvalid("This invitation link")
    if state_of(invite) not in OPEN_STATES:
        raise TokenInvalid("This invitation link")
    return invite


async def _inviter_still_grants(invite: Invite, org: Organisation) -> bool:
    """An invite grants its roles only while the user who made it still could: active, still allowed to
    manage the users of that organisation, and holding a role at least as high as those it grants (as an
    API token's roles follow its creator's)."""
    inviter = await User.get_or_none(id=invite.created_by_id) if invite.created_by_id else None  # type: ignore[attr-defined]
    if inviter is None or not inviter.is_active:
        return False
    actor = actor_for(inviter, await Organisation.get(id=inviter.organisation_id))  # type: ignore[attr-defined]
    return (
        actor.has(Permission.MANAGE_USERS)
        and _scope.in_subtree(actor, org.path)
        and parse_roles(invite.roles.split(",")) <= grantable_roles(actor.roles)
    )


async def accept_invite(
    settings: Settings, *, token: str, name: str | None, email: str, password: str
) -> tuple[User, Organisation]:
    """Create the invited user in the invite's organisation with its roles; the token works once."""
    invite = await find_by_token(settings, token.strip())
    address = _email(email)
    if address is None:
        raise BadInput("email", "This is not a valid email address.")
    if invite.email and address != invite.email:
        raise BadInput(
            "email", "Use the address the invitation was sent to; you can change it in your profile after logging in."
        )
    display_name = checked_name((name or "").strip() or invite.name)
    await _email_taken(address)
    org = await _organisation(invite)
    if not await _inviter_still_grants(invite, org):  # the inviter lost the right since: the invite lapsed
        raise TokenInvalid("This invitation link")
    password_hash = await hash_new_password(password, address)
    now = datetime.now(UTC)
    try:
        async with in_transaction():
            # The guarded UPDATE is what makes the link single-use: of two concurrent accepts one changes the row.
            if not await Invite.filter(id=invite.id, state__in=OPEN_STATES, expires_at__gt=now).update(
                state=ACCEPTED, accepted_at=now
            ):
                raise TokenInvalid("This invitation link")
            user = await User.create(
                name=display_name,
                email=address,
                organisation=org,
                roles=invite.roles,
                language=invite.language,
                password_hash=password_hash,
                must_change_password=False,
                password_changed_at=now,
            )
            await Invite.filter(id=invite.id).update(accepted_user_id=user.id)
            await audit.record(
                "invite.accepted",
                None,
                actor_label=f"user:{address}",
                organisation_id=org.id,
                organisation_path=org.path,
                target=f"invite:{invite.id}",
                details={"userId": str(user.id)},
            )
    except IntegrityError as exc:
        if not duplicate_of(exc, "users", "email"):
            raise
        raise KmsError("Another user has this email.", code="EMAIL_TAKEN", field="email") from None
    return user, org
