"""Tests for the key formats: each output is read back the way its target tool reads it."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile

import pytest

from crypto.kcv import key_check_value
from crypto.secret import SecretBytes
from plugins.base import ExportOptions, FormatError, KeyAlgorithm, KeyRecord, stream_export
from plugins.registry import load_plugins

REGISTRY = load_plugins()
APP_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
NWK_KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
OMS_KEY = bytes.fromhex("bedb81b52c29b5c143388cbb0d15a051")


def lora(serial: str, dev_eui: str, version: str = "1.0.3") -> list[KeyRecord]:
    attrs = REGISTRY.validate_attributes(
        "topas-sonic-lora-w8", {"devEui": dev_eui, "joinEui": "70B3D57ED0000001", "lorawanVersion": version}
    )
    slots = REGISTRY.key_slots_for("topas-sonic-lora-w8", attrs)
    keys = {"AppKey": APP_KEY, "NwkKey": NWK_KEY}
    return [
        KeyRecord(serial, "topas-sonic-lora-w8", s.key_type, s.algorithm, SecretBytes(keys[s.key_type]), attrs)
        for s in slots
    ]


def oms(serial: str, mbus_id: str, manufacturer: str | None = "AMT", type_id: str = "aquastream-wmbus") -> KeyRecord:
    raw = {"mbusId": mbus_id} | ({"manufacturer": manufacturer} if manufacturer else {})
    attrs = REGISTRY.validate_attributes(type_id, raw)
    return KeyRecord(serial, type_id, "OMS", KeyAlgorithm.AES128, SecretBytes(OMS_KEY), attrs)


def export(format_id: str, records: list[KeyRecord], **options: object) -> bytes:
    ctx = REGISTRY.export_context(ExportOptions(**options))  # type: ignore[arg-type]
    return b"".join(stream_export(REGISTRY.format(format_id), records, ctx))


def test_wmbusmeters_zip_streams_each_meter_file_with_its_row_and_never_touches_the_disk(monkeypatch) -> None:
    import tempfile

    def no_temporary_file(*args, **kwargs):  # keys in plain text must not reach the disk on their way out
        raise AssertionError("a temporary file was made for the zip")

    for name in ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, no_temporary_file)
    writer = REGISTRY.format("wmbusmeters-zip").writer()
    assert list(writer.header(REGISTRY.export_context(ExportOptions()))) == []
    pieces = [b"".join(writer.rows(oms(f"M{n:05}", f"{n:08}"))) for n in range(2000)]
    tail = b"".join(writer.footer())
    # each row gave out its own meter file (the writer holds none of them back), the footer the directory
    assert all(pieces) and max(map(len, pieces)) < 1024
    with zipfile.ZipFile(io.BytesIO(b"".join(pieces) + tail)) as archive:
        assert archive.testzip() is None and len(archive.namelist()) == 2000


def test_generic_csv_quotes_and_honours_delimiter() -> None:
    records = [*lora('21N;001"052', "0011223344556677"), oms("9999993", "20096221")]
    text = export("csv", records, csv_delimiter=";").decode()
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    assert [r["serial_number"] for r in rows] == ['21N;001"052', "9999993"]
    assert rows[0] == {
        "serial_number": '21N;001"052',
        "device_type": "TOPAS Lora W8",
        "key_type": "AppKey",
        "algorithm": "AES128",
        "key": APP_KEY.hex().upper(),
        "kcv": key_check_value(APP_KEY),
    }
    assert rows[1]["device_type"] == "Aquastream WM-Bus"
    assert rows[1]["kcv"] == key_check_value(OMS_KEY)


def test_wmbusmeters_zip_holds_one_meter_file_per_device() -> None:
    data = export("wmbusmeters-zip", [oms("9999993", "20096221"), oms("9999993", "20096222"), oms("Y20/1", "00000001")])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        files = {n: dict(line.split("=", 1) for line in archive.read(n).decode().splitlines()) for n in names}
    assert names == ["9999993", "9999993_2", "Y20_1"]
    assert files["9999993"] == {
        "name": "9999993",
        "driver": "auto",
        "id": "20096221",
        "key": OMS_KEY.hex().upper(),
    }
    assert files["9999993_2"]["id"] == "20096222"
    assert files["Y20_1"]["id"] == "00000001"


def test_wmbusmeters_lines() -> None:
    text = export("wmbusmeters-lines", [oms("9999993", "20096221"), oms("9999994", "20096222")]).decode()
    lines = [line.split(" ") for line in text.splitlines()]
    assert lines == [
        ["9999993", "auto", "20096221", OMS_KEY.hex().upper()],
        ["9999994", "auto", "20096222", OMS_KEY.hex().upper()],
    ]


def test_wmbusmeters_refuses_des_keys() -> None:
    record = KeyRecord(
        "1", "aquaradio-legacy-des", "OMS", KeyAlgorithm.DES, SecretBytes(bytes(8)), {"mbusId": "12345678"}
    )
    with pytest.raises(FormatError, match="AES-128"):
        export("wmbusmeters-lines", [record])


def test_oms_key_list() -> None:
    text = export("oms-key-list", [oms("9999993", "20096221"), oms("9999994", "20096222", "ieb")]).decode()
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    assert [list(r.values()) for r in rows] == [
        ["AMT", "20096221", OMS_KEY.hex().upper()],
        ["IEB", "20096222", OMS_KEY.hex().upper()],
    ]
    assert text.startswith("MFR;SERIAL;KEY\r\n")
    with pytest.raises(FormatError, match="manufacturer"):
        export("oms-key-list", [oms("9999995", "20096223", manufacturer=None)])


def _json_stream(text: str) -> list[dict[str, object]]:
    """Decode concatenated JSON objects one at a time, as TTS's import does."""
    decoder, pos, out = json.JSONDecoder(), 0, []
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        obj, pos = decoder.raw_decode(text, pos)
        out.append(obj)
    return out


def test_tts_json_end_devices() -> None:
    records = [*lora("21N001052", "0011223344556677"), *lora("21N001064", "0011223344556678", "1.1")]
    devices = _json_stream(export("tts-json", records).decode())
    assert len(devices) == 2
    first, second = devices
    assert first["ids"] == {
        "device_id": "21n001052",
        "dev_eui": "0011223344556677",
        "join_eui": "70B3D57ED0000001",
    }
    assert first["lorawan_version"] == "MAC_V1_0_3"
    assert first["lorawan_phy_version"] == "PHY_V1_0_3_REV_A"
    assert first["frequency_plan_id"] == "EU_863_870_TTN"
    assert first["supports_join"] is True
    assert first["root_keys"] == {"app_key": {"key": APP_KEY.hex().upper()}}
    assert second["lorawan_version"] == "MAC_V1_1"
    assert second["root_keys"] == {
        "app_key": {"key": APP_KEY.hex().upper()},
        "nwk_key": {"key": NWK_KEY.hex().upper()},
    }
    for device in devices:
        assert re.fullmatch(r"[a-z0-9](?:-?[a-z0-9]){2,35}", device["ids"]["device_id"])  # type: ignore[index]


@pytest.mark.parametrize("format_id", ["tts-json", "tts-csv"])
def test_tts_device_ids_differ_for_serial_numbers_that_differ_only_in_case_or_punctuation(format_id: str) -> None:
    # given: serial numbers a device id would fold together (an application holds each id once)
    serials = ["21N001052", "ABC1", "abc1", "21N-001", "21N.001", "21N/001", "21N_001", "EUI-0011223344556600"]
    records = [r for n, serial in enumerate(serials) for r in lora(serial, f"00112233445566{n:02X}")]
    # when
    text = export(format_id, records).decode()
    if format_id == "tts-json":
        ids = [json.loads(line)["ids"]["device_id"] for line in text.splitlines()]
    else:
        ids = [row["id"] for row in csv.DictReader(io.StringIO(text, newline=""), delimiter=";")]
    # then: one id per device, the plain ones as they were
    assert len(set(ids)) == len(serials)
    assert ids[:2] == ["21n001052", "abc1"] and ids[3] == "21n-001"
    assert ids[2] == "eui-0011223344556602" and ids[4] == "eui-0011223344556604"


def test_tts_json_streams_a_device_as_soon_as_the_next_starts() -> None:
    ctx = REGISTRY.export_context(ExportOptions(params={"frequency_plan_id": "US_902_928_FSB_2"}))
    writer = REGISTRY.format("tts-json").writer()
    assert list(writer.header(ctx)) == []
    assert list(writer.rows(lora("A-1", "0011223344556677")[0])) == []
    emitted = "".join(str(c) for c in writer.rows(lora("A-2", "0011223344556678")[0]))
    assert json.loads(emitted)["ids"]["device_id"] == "a-1"
    assert json.loads(emitted)["frequency_plan_id"] == "US_902_928_FSB_2"
    assert json.loads("".join(str(c) for c in writer.footer()))["ids"]["device_id"] == "a-2"


def test_tts_csv_always_uses_semicolons() -> None:
    records = [*lora("21N001052", "0011223344556677"), *lora("21N001064", "0011223344556678", "1.1")]
    text = export("tts-csv", records, csv_delimiter=",").decode()
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    assert rows[0]["dev_eui"] == "0011223344556677"
    assert rows[0]["join_eui"] == "70B3D57ED0000001"
    assert rows[0]["id"] == "21n001052"
    assert rows[0]["lorawan_version"] == "MAC_V1_0_3"
    assert rows[0]["lorawan_phy_version"] == "PHY_V1_0_3_REV_A"
    assert rows[0]["frequency_plan_id"] == "EU_863_870_TTN"
    assert (rows[0]["app_key"], rows[0]["nwk_key"]) == (APP_KEY.hex().upper(), "")
    assert (rows[1]["app_key"], rows[1]["nwk_key"]) == (APP_KEY.hex().upper(), NWK_KEY.hex().upper())


def test_chirpstack_csv_puts_1_0_app_key_in_nwk_key() -> None:
    records = [*lora("21N001052", "0011223344556677"), *lora("21N001064", "0011223344556678", "1.1")]
    text = export("chirpstack-csv", records, csv_delimiter="\t").decode()
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter="\t"))
    assert rows[0]["dev_eui"] == "0011223344556677"
    assert rows[0]["mac_version"] == "LORAWAN_1_0_3"
    assert (rows[0]["nwk_key"], rows[0]["app_key"]) == (APP_KEY.hex(), "")
    assert (rows[1]["nwk_key"], rows[1]["app_key"]) == (NWK_KEY.hex(), APP_KEY.hex())


def test_lorawan_formats_refuse_oms_devices() -> None:
    with pytest.raises(FormatError, match="cannot hold"):
        export("tts-json", [oms("9999993", "20096221")])


def test_1_1_device_without_nwk_key_is_an_error() -> None:
    app_only = [r for r in lora("X-1", "0011223344556677", "1.1") if r.key_type == "AppKey"]
    with pytest.raises(FormatError, match="NwkKey"):
        export("tts-json", app_only)


def test_key_record_repr_hides_the_key() -> None:
    record = lora("21N001052", "0011223344556677")[0]
    assert APP_KEY.hex() not in repr(record).lower()


def test_export_options_validate_delimiter() -> None:
    with pytest.raises(ValueError, match="delimiter"):
        ExportOptions(csv_delimiter='"')
    assert ExportOptions(thousands_separator="'").format_int(1234567) == "1'234'567"
