"""Users: the manual's user list, add and edit user, and an admin setting a password."""

from __future__ import annotations

from dataclasses import dataclass, fields
from uuid import UUID

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.auth import Session
from models.organisations import Organisation
from models.users import User
from resolvers import _scope, accounts, audit, outbox
from resolvers.actor import Actor
from resolvers.auth import hash_new_password, set_password_hash
from resolvers.errors import BadInput, Forbidden, KmsError, duplicate_of
from resolvers.pagination import Page, paginate
from resolvers.roles import Permission, Role, parse_roles
from resolvers.validation import checked_language, checked_name

# A delimiter must not be something that appears inside values (letters, digits, quotes).
_BAD_SEPARATOR_CHARS = set("\"'\r\n") | set("0123456789")


@dataclass(frozen=True)
class UserFilter:
    name: str | None = None
    email: str | None = None
    organisation_ids: list[str] | None = None
    roles: list[str] | None = None


@dataclass(frozen=True)
class Profile:
    """Changes to a user; None leaves a field as it is."""

    name: str | None = None
    email: str | None = None
    organisation_id: str | None = None
    roles: list[str] | None = None
    language: str | None = None
    csv_delimiter: str | None = None
    csv_thousands_separator: str | None = None
    is_active: bool | None = None

    # Fields a user may change on their own account without MANAGE_USERS.
    SELF_SERVICE = frozenset({"name", "language", "csv_delimiter", "csv_thousands_separator"})

    def changed(self) -> set[str]:
        return {f.name for f in fields(self) if getattr(self, f.name) is not None}


def _email(value: str) -> str:
    return outbox.checked_address(value).lower()


def _distinct_separators(delimiter: str, thousands: str) -> None:
    """A number written with the thousands separator must not read as two cells of the CSV file."""
    if thousands and thousands == delimiter:
        raise BadInput("csvThousandsSeparator", "The thousands separator must differ from the CSV delimiter.")


def _separator(value: str, field: str, *, allow_empty: bool) -> str:
    if (not value and not allow_empty) or len(value) > 1 or value in _BAD_SEPARATOR_CHARS or value.isalpha():
        raise BadInput(field, "Use a single character that is not a letter, digit or quote.")
    return value


def _grant(actor: Actor, roles: list[str]) -> frozenset[Role]:
    wanted = parse_roles(roles)
    if len(wanted) != len(set(roles)) or not wanted:
        raise BadInput("roles", "Give at least one known role.")
    if not wanted <= actor.grantable:
        raise Forbidden("You cannot grant a role you do not hold.")
    return wanted


async def list_users(actor: Actor, flt: UserFilter, *, first: int | None, after: str | None) -> Page[User]:
    query = _scope.users(actor)
    if flt.name:
        query = query.filter(name__icontains=flt.name)
    if flt.email:
        query = query.filter(email__icontains=flt.email.lower())
    if flt.organisation_ids:
        ids = []
        for value in flt.organisation_ids:
            try:
                ids.append(UUID(value))
            except ValueError:
                raise BadInput("organisationIds", "Not an organisation ID.") from None
        query = query.filter(organisation_id__in=ids)
    for role in flt.roles or []:
        query = query.filter(roles__contains=f",{role},")
    return await paginate(query, ("name", "id"), first=first, after=after)


async def get_user(actor: Actor, user_id: str) -> User:
    if actor.is_self(user_id):
        return await User.get(id=actor.user_id)
    if not actor.has(Permission.MANAGE_USERS):
        raise Forbidden()
    return await _scope.user(actor, user_id)


async def create_user(actor: Actor, profile: Profile, password: str) -> User:
    assert profile.name is not None and profile.email is not None and profile.organisation_id is not None
    name, email = checked_name(profile.name), _email(profile.email)
    org = await _scope.organisation(actor, profile.organisation_id)
    roles = _grant(actor, profile.roles or [])
    language = checked_language(profile.language or "EN")
    # An explicit empty delimiter is invalid, not a request for the default.
    delimiter = _separator(
        ";" if profile.csv_delimiter is None else profile.csv_delimiter, "csvDelimiter", allow_empty=False
    )
    thousands = _separator(profile.csv_thousands_separator or "", "csvThousandsSeparator", allow_empty=True)
    _distinct_separators(delimiter, thousands)
    if await User.exists(email=email):
        raise KmsError("Another user has this email.", code="EMAIL_TAKEN", field="email")
    password_hash = await hash_new_password(password, email)
    try:
        async with in_transaction():
            user = await User.create(
                name=name,
                email=email,
                organisation=org,
                roles=User.encode_roles({r.value for r in roles}),
                language=language,
                csv_delimiter=delimiter,
                csv_thousands_separator=thousands,
                password_hash=password_hash,
                must_change_password=True,
            )
            await audit.record(
                "user.created",
                actor,
                organisation_id=org.id,
                organisation_path=org.path,
                target=f"user:{user.id}",
                details={"email": email, "roles": sorted(r.value for r in roles)},
            )
    except IntegrityError as exc:  # a concurrent request took the email between the check and the insert
        if not duplicate_of(exc, "users", "email"):
            raise
        raise KmsError("Another user has this email.", code="EMAIL_TAKEN", field="email") from None
    return user


def _changes(updates: dict[str, object], new_email: str | None) -> dict[str, object]:
    """What the audit log says of a user's change: the fields, and the new value of those that decide what the
    user may do (roles, organisation, active) and where the account's mail goes (a requested email)."""
    details: dict[str, object] = {"fields": sorted(updates)}
    if "roles" in updates:
        details["roles"] = [r for r in str(updates["roles"]).split(",") if r]  # encoded sorted: ",A,B,"
    if "organisation_id" in updates:
        details["organisationId"] = str(updates["organisation_id"])
    if "is_active" in updates:
        details["isActive"] = updates["is_active"]
    if new_email is not None:
        details["emailRequested"] = new_email  # takes effect once confirmed from that address
    return details


async def update_user(actor: Actor, user_id: str, profile: Profile) -> User:
    changed = profile.changed()
    is_self = actor.is_self(user_id)
    if not (is_self and changed <= Profile.SELF_SERVICE) and not actor.has(Permission.MANAGE_USERS):
        raise Forbidden("You may change only your name, language and CSV settings.")
    if is_self and changed & {"roles", "organisation_id"}:
        # Nobody changes their own rights; another admin does, and the audit log shows who.
        raise Forbidden("You cannot change your own roles or organisation.")
    user = await (User.get(id=actor.user_id) if is_self else _scope.user(actor, user_id))
    if not parse_roles(user.role_list) <= actor.grantable:
        raise Forbidden("This user holds a role above yours.")
    updates: dict[str, object] = {}
    new_email: str | None = None
    if profile.name is not None:
        updates["name"] = checked_name(profile.name)
    if profile.email is not None:
        email = _email(profile.email)
        if email != user.email and await User.exists(email=email):
            raise KmsError("Another user has this email.", code="EMAIL_TAKEN", field="email")
        if email != user.email and is_self:
            # the password is asked again for that: an open session alone must not move the account's mail
            raise Forbidden("Change your own email address in your profile (changeEmail), with your password.")
        if email != user.email:
            new_email = email  # takes effect when confirmed from the new address (accounts.confirm_email)
    if profile.organisation_id is not None:
        updates["organisation_id"] = (await _scope.organisation(actor, profile.organisation_id)).id
    if profile.roles is not None:
        updates["roles"] = User.encode_roles({r.value for r in _grant(actor, profile.roles)})
    if profile.language is not None:
        updates["language"] = checked_language(profile.language)
    if profile.csv_delimiter is not None:
        updates["csv_delimiter"] = _separator(profile.csv_delimiter, "csvDelimiter", allow_empty=False)
    if profile.csv_thousands_separator is not None:
        updates["csv_thousands_separator"] = _separator(
            profile.csv_thousands_separator, "csvThousandsSeparator", allow_empty=True
        )
    if {"csv_delimiter", "csv_thousands_separator"} & updates.keys():  # (older rows may hold equal ones)
        _distinct_separators(
            str(updates.get("csv_delimiter", user.csv_delimiter)),
            str(updates.get("csv_thousands_separator", user.csv_thousands_separator)),
        )
    if profile.is_active is not None:
        if is_self and not profile.is_active:
            raise BadInput("isActive", "You cannot deactivate yourself.")
        updates["is_active"] = profile.is_active
    try:
        async with in_transaction():
            for field, value in updates.items():
                setattr(user, field, value)
            if updates:
                await user.save(update_fields=list(updates))
            if profile.is_active is False:
                await Session.filter(user_id=user.id).delete()
            if new_email is not None:
                await accounts.request_email_change(actor, user, new_email)
            await audit.record(
                "user.updated",
                actor,
                organisation_id=user.organisation_id,  # type: ignore[attr-defined]
                organisation_path=(await Organisation.get(id=user.organisation_id)).path,  # type: ignore[attr-defined]
                target=f"user:{user.id}",
                details=_changes(updates, new_email),
            )
    except IntegrityError as exc:
        if not duplicate_of(exc, "users", "email"):
            raise
        raise KmsError("Another user has this email.", code="EMAIL_TAKEN", field="email") from None
    return user


async def set_user_password(actor: Actor, user_id: str, new_password: str) -> User:
    """An admin sets another user's password; the user must change it at the next login."""
    if actor.is_self(user_id):
        raise BadInput("id", "Change your own password with changePassword, which asks for the current one.")
    user = await _scope.user(actor, user_id)
    if not parse_roles(user.role_list) <= actor.grantable:
        raise Forbidden("This user holds a role above yours.")
    password_hash = await hash_new_password(new_password, user.email)
    async with in_transaction():
        await set_password_hash(user, password_hash, must_change=user.id != actor.user_id)
        org = await Organisation.get(id=user.organisation_id)  # type: ignore[attr-defined]
        await audit.record(
            "password.set", actor, organisation_id=org.id, organisation_path=org.path, target=f"user:{user.id}"
        )
    return user
