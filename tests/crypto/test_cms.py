"""Certificates a key file may be enveloped to (crypto.cms): valid now, RSA of at least 2048 bits."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crypto import cms


def certificate(tmp_path: Path, key: str = "rsa:2048", days: int = 1) -> str:
    """A self-signed certificate made by openssl, valid from now for ``days``."""
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", key, "-nodes", "-keyout", tmp_path / "key.pem"),
            *("-out", tmp_path / "cert.pem", "-subj", "/CN=head-end", "-days", str(days)),
        ],
        check=True,
        capture_output=True,
    )
    return (tmp_path / "cert.pem").read_text()


def test_a_current_rsa_2048_certificate_is_taken(tmp_path: Path) -> None:
    assert cms.subject_of(certificate(tmp_path)) == "CN=head-end"


@pytest.mark.parametrize(
    ("when", "days"), [(timedelta(days=3), 1), (timedelta(days=-1), 1)], ids=["expired", "not-valid-yet"]
)
def test_a_certificate_outside_its_validity_is_refused(tmp_path: Path, when: timedelta, days: int) -> None:
    pem = certificate(tmp_path, days=days)
    with pytest.raises(cms.CertificateError, match="expired or not valid yet"):
        cms.subject_of(pem, now=datetime.now(UTC) + when)


def test_a_short_rsa_key_is_refused(tmp_path: Path) -> None:
    pem = certificate(tmp_path, key="rsa:1024")
    with pytest.raises(cms.CertificateError, match="at least 2048 bits"):
        cms.subject_of(pem)


def test_a_file_is_still_enveloped_to_a_certificate_that_expired_after_its_release(tmp_path: Path) -> None:
    """A release checks the certificate; its download (up to KMS_DOWNLOAD_TTL_SECONDS later) envelopes to it."""
    pem = certificate(tmp_path)
    assert cms.envelope(b"serial;key\n", pem).startswith(b"-----BEGIN PKCS7-----")
