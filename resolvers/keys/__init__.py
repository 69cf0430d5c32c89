"""Keys leaving the service: release, download, frame verification and KEK rotation (one module each;
this package's names are the ones the rest of the service uses)."""

from __future__ import annotations

from resolvers.keys.download import claim_download, inline_content, stream_file
from resolvers.keys.release import (
    AUDIT_CHECK_VALUES,
    DOWNLOAD_PREFIX,
    MAX_REFUSED_LISTED,
    MAX_RELEASE_IDS,
    PART_SIZE,
    Release,
    ReleasePolicy,
    ReleaseRequest,
    Row,
    is_text,
    release_keys,
)
from resolvers.keys.rotation import rotate_kek
from resolvers.keys.verification import verify_device_key

__all__ = [
    "AUDIT_CHECK_VALUES",
    "DOWNLOAD_PREFIX",
    "MAX_REFUSED_LISTED",
    "MAX_RELEASE_IDS",
    "PART_SIZE",
    "Release",
    "ReleasePolicy",
    "ReleaseRequest",
    "Row",
    "claim_download",
    "inline_content",
    "is_text",
    "release_keys",
    "rotate_kek",
    "stream_file",
    "verify_device_key",
]
