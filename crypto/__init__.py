"""Key custody: the only package that imports ``cryptography.hazmat``.

Modules:
    primitives: AES-CMAC, AES key wrap, AES-CBC/ECB, 3DES block, constant-time compare.
    secret: ``SecretBytes``, a wrapper that never prints key material.
    errors: the exception classes raised by this package.
    kek: key-encryption-key providers (file, environment) and the ``KekRing`` resolver.
    envelope: AES-256-GCM envelope encryption of stored keys (``seal``, ``open_sealed``, ``rewrap``).
    kcv: key algorithms, key check values and key generation.
    passwords, tokens: password hashing and opaque secret tokens.
"""
