"""CMS (PKCS#7) enveloped data: a released key file encrypted to a recipient's certificate."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

from crypto.errors import CryptoError

# The shortest RSA key a key file is enveloped to (NIST SP 800-57: 2048 bits for use beyond 2010).
MIN_RSA_BITS = 2048


class CertificateError(CryptoError):
    """The recipient certificate cannot be used."""


def load_recipient(pem: str) -> x509.Certificate:
    """Parse a PEM certificate that can receive an RSA-enveloped file.

    Args:
        pem: The certificate in PEM form.

    Returns:
        The certificate.

    Raises:
        CertificateError: Not a PEM certificate, or its key is not RSA (CMS key transport needs RSA).
    """
    try:
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise CertificateError("recipientCertificate is not a PEM certificate.") from None
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise CertificateError("recipientCertificate must hold an RSA public key.")
    return cert


def envelope(data: bytes, certificate_pem: str) -> bytes:
    """Encrypt ``data`` to the certificate as CMS enveloped data (AES-256-CBC content encryption), PEM.

    ``openssl cms -decrypt -inform PEM -inkey key.pem -in file`` opens it with the matching private key.
    """
    cert = load_recipient(certificate_pem)
    builder = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(data)
        .add_recipient(cert)
        .set_content_encryption_algorithm(algorithms.AES256)
    )
    return builder.encrypt(serialization.Encoding.PEM, [pkcs7.PKCS7Options.Binary])


def subject_of(certificate_pem: str, now: datetime | None = None) -> str:
    """The subject of a certificate that a release may be enveloped to, for the audit log (a certificate is
    public): valid at ``now`` (default: the current time) and with an RSA key of at least 2048 bits.

    Raises:
        CertificateError: Not a PEM RSA certificate, expired, not valid yet, or its key is too short.
    """
    cert = load_recipient(certificate_pem)
    now = now or datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise CertificateError("recipientCertificate is expired or not valid yet.")
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise CertificateError(f"recipientCertificate must hold an RSA key of at least {MIN_RSA_BITS} bits.")
    return cert.subject.rfc4514_string()
