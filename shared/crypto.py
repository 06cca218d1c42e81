"""Secrets at rest (client secrets, R1) under a rotating key list, the signing key, and token hashing."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Bound into the derivation, so the signing key is unrelated to the encryption key made from the same secret.
_SIGNING_INFO = b"cardsync/signing-key/v1"


class UndecryptableSecret(ValueError):
    """No key of the list opens this ciphertext."""


def _fernet(secret_key: str) -> Fernet:
    # Any string works as a key: it is stretched to the 32 bytes Fernet needs.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest()))


def _newest(keys: Sequence[str]) -> str:
    # A lone string is a sequence too, of one-character "keys": refuse it rather than encrypt under "k".
    if isinstance(keys, str) or not keys:
        raise TypeError("a non-empty list of keys is needed, newest first")
    return keys[0]


def _ring(keys: Sequence[str]) -> MultiFernet:
    _newest(keys)
    return MultiFernet([_fernet(key) for key in keys])


def encrypt(keys: Sequence[str], plaintext: str) -> bytes:
    """Encrypted under the newest key (the first)."""
    return _ring(keys).encrypt(plaintext.encode())


def decrypt(keys: Sequence[str], token: bytes) -> str:
    """Decrypted with whichever key of the list opens it."""
    try:
        return _ring(keys).decrypt(bytes(token)).decode()
    except InvalidToken as exc:
        raise UndecryptableSecret(
            "the stored secret cannot be decrypted with any key of CARDSYNC_SECRET_KEYS:"
            " was the key it was stored under removed?"
        ) from exc


def needs_rotation(keys: Sequence[str], token: bytes) -> bool:
    """Whether the newest key alone cannot open ``token``."""
    try:
        _fernet(_newest(keys)).decrypt(bytes(token))
    except InvalidToken:
        return True
    return False


def rotate(keys: Sequence[str], token: bytes) -> bytes:
    """``token`` encrypted again under the newest key."""
    try:
        return _ring(keys).rotate(bytes(token))
    except InvalidToken as exc:
        raise UndecryptableSecret("no key of CARDSYNC_SECRET_KEYS opens this stored secret") from exc


def signing_key(keys: Sequence[str]) -> bytes:
    """32 bytes for MACs (consent states), derived from the newest key and never equal to the encryption
    key."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SIGNING_INFO)
    return hkdf.derive(_newest(keys).encode())


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
