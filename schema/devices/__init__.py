"""GraphQL of devices: the catalog, device types, import and claim (types, inputs and operations)."""

from __future__ import annotations

from schema.devices.inputs import DeviceFilter, DeviceImportRow, KeyValueInput
from schema.devices.operations import LEASED_ROOT_FIELDS, Mutation, Query
from schema.devices.types import (
    ClaimResult,
    ClaimStatus,
    DeviceFacets,
    DeviceIdentifier,
    DeviceKey,
    DeviceObject,
    DeviceTypeType,
    FacetValue,
    KeyAlgorithmEnum,
    KeySlot,
    RadioEnum,
    RefusedDevice,
    preload_page,
)

__all__ = [
    "LEASED_ROOT_FIELDS",
    "ClaimResult",
    "ClaimStatus",
    "DeviceFacets",
    "DeviceFilter",
    "DeviceIdentifier",
    "DeviceImportRow",
    "DeviceKey",
    "DeviceObject",
    "DeviceTypeType",
    "FacetValue",
    "KeyAlgorithmEnum",
    "KeySlot",
    "KeyValueInput",
    "Mutation",
    "Query",
    "RadioEnum",
    "RefusedDevice",
    "preload_page",
]
