"""Devices: import with keys, the catalog, claiming and facets (one module each; this package's names are
the ones the rest of the service uses)."""

from __future__ import annotations

from resolvers.devices.catalog import (
    CatalogPage,
    attributes_of,
    catalog_page,
    count_from_totals,
    filtered,
    get_device,
    keys_of,
    labels_of,
    list_devices,
    set_labels,
)
from resolvers.devices.claims import ClaimResult, claim_devices, devices_by_ids
from resolvers.devices.common import (
    BATCH_COLUMNS,
    DEVICE_COLUMNS,
    KEY_COLUMNS,
    LABEL,
    MAX_FILTER_SERIALS,
    MAX_IMPORT_ROWS,
    MAX_LABELS,
    MAX_REPORTED_ROWS,
    BatchRow,
    DeviceFilter,
    DeviceRow,
    Fetch,
    Refused,
    _uuid,
)
from resolvers.devices.facets import Facets, facets
from resolvers.devices.importing import ImportRow, import_devices

__all__ = [
    "BATCH_COLUMNS",
    "DEVICE_COLUMNS",
    "KEY_COLUMNS",
    "LABEL",
    "MAX_FILTER_SERIALS",
    "MAX_IMPORT_ROWS",
    "MAX_LABELS",
    "MAX_REPORTED_ROWS",
    "BatchRow",
    "CatalogPage",
    "ClaimResult",
    "DeviceFilter",
    "DeviceRow",
    "Facets",
    "Fetch",
    "ImportRow",
    "Refused",
    "_uuid",
    "attributes_of",
    "catalog_page",
    "claim_devices",
    "count_from_totals",
    "devices_by_ids",
    "facets",
    "filtered",
    "get_device",
    "import_devices",
    "keys_of",
    "labels_of",
    "list_devices",
    "set_labels",
]
