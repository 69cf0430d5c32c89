"""GraphQL of key formats, key release and key verification."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from models.users import User
from plugins.base import KeyFormat
from resolvers import keys
from resolvers.keystore import keystore, opening_ring, registry
from resolvers.roles import Permission
from schema.context import Context
from schema.devices import DeviceFilter, RefusedDevice
from schema.permissions import requires


@strawberry.type(name="KeyFormat")
class KeyFormatType:
    id: strawberry.ID
    name: str
    media_type: str
    file_extension: str

    @classmethod
    def of(cls, f: KeyFormat) -> KeyFormatType:
        return cls(id=strawberry.ID(f.id), name=f.name, media_type=f.media_type, file_extension=f.file_extension)


@strawberry.type
class KeyRelease:
    id: strawberry.ID
    format: KeyFormatType
    filename: str
    device_count: int
    key_count: int
    content: str | None = strawberry.field(
        description="The file itself, when it is small enough to inline (see the server's limit)."
    )
    download_url: str = strawberry.field(description="Single-use, short-lived URL that streams the file.")
    expires_at: datetime
    refused: list[RefusedDevice] = strawberry.field(
        description="The refused devices with their reasons; a long list is cut, refusedCount counts them all."
    )
    refused_count: int = strawberry.field(description="How many devices were refused, listed or not.")


@strawberry.type(
    description="Result of checking a stored key against a frame captured from the device, without releasing the key."
)
class KeyVerification:
    ok: bool
    key_type: str | None
    method: str = strawberry.field(
        description="How it was checked, e.g. OMS mode 5 decryption (2F2F check bytes) or LoRaWAN join-request MIC."
    )
    detail: str


@strawberry.input
class ReleaseKeysInput:
    device_ids: list[strawberry.ID] | None = None
    filter: DeviceFilter | None = None
    format: strawberry.ID | None = strawberry.ID("csv")
    recipient_certificate: str | None = strawberry.field(
        default=None, description="PEM certificate: the file is then CMS (PKCS#7) enveloped to it."
    )


@strawberry.type
class Query:
    @strawberry.field(extensions=requires(Permission.READ_CATALOG))
    def key_formats(self, info: Info) -> list[KeyFormatType]:
        return [KeyFormatType.of(f) for f in registry(info.context.settings.plugins).formats()]

    @strawberry.field(
        extensions=requires(Permission.RELEASE_KEYS),
        description="Checks a captured frame (hex) against the device's stored key; the key is not revealed.",
    )
    async def verify_device_key(self, info: Info, device_id: strawberry.ID, frame: str) -> KeyVerification:
        settings = info.context.settings
        result = await keys.verify_device_key(
            info.context.require_actor(),
            device_id,
            frame,
            ring=await opening_ring(keystore(settings)),
            registry=registry(settings.plugins),
        )
        return KeyVerification(ok=result.ok, key_type=result.key_type, method=result.method, detail=result.detail)


@strawberry.type
class Mutation:
    @strawberry.mutation(extensions=requires(Permission.RELEASE_KEYS))
    async def release_keys(self, info: Info, input: ReleaseKeysInput) -> KeyRelease:
        context: Context = info.context
        settings, actor = context.settings, context.require_actor()
        # A sealed store, or one that lacks a KEK version, refuses here, before anything is looked up.
        ring, plugins = await opening_ring(keystore(settings)), registry(settings.plugins)
        request = keys.ReleaseRequest(
            device_ids=[str(i) for i in input.device_ids] if input.device_ids is not None else None,
            filter=input.filter.to_resolver() if input.filter else None,
            format_id=str(input.format or "csv"),
            recipient_certificate=input.recipient_certificate,
        )
        user = await User.get(id=actor.user_id)
        release = await keys.release_keys(
            actor,
            request,
            user,
            registry=plugins,
            policy=keys.ReleasePolicy(settings.release_inline_limit, settings.download_ttl_seconds),
        )
        content = await keys.inline_content(release, plugins, ring, settings.release_inline_limit)
        model = release.model
        return KeyRelease(
            id=strawberry.ID(str(model.id)),
            format=KeyFormatType.of(release.key_format),
            filename=model.filename,
            device_count=model.device_count,
            key_count=model.key_count,
            content=content,
            download_url=f"{settings.public_url.rstrip('/')}/downloads/{release.token}",
            expires_at=model.expires_at,
            refused=[RefusedDevice(serial_number=r.serial_number, reason=r.reason) for r in release.refused],
            refused_count=release.refused_count,
        )
