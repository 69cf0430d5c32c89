"""CMS (PKCS#7) enveloped data: a released key file encrypted to a recipient's certificate."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

from crypto.errors import CryptoError


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


def subject_of(certificate_pem: str) -> str:
    """The certificate's subject, for the audit log (a certificate is public)."""
    return load_recipient(certificate_pem).subject.rfc4514_string()
