"""Secrets at rest (client secrets) and the hashing of bearer and claim tokens."""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken


def _fernet(secret_key: str) -> Fernet:
    # Any string works as a key: it is stretched to the 32 bytes Fernet needs.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest()))


def encrypt(secret_key: str, plaintext: str) -> bytes:
    return _fernet(secret_key).encrypt(plaintext.encode())


def decrypt(secret_key: str, token: bytes) -> str:
    try:
        return _fernet(secret_key).decrypt(bytes(token)).decode()
    except InvalidToken as exc:
        raise ValueError("the stored secret cannot be decrypted: CARDSYNC_SECRET_KEY changed?") from exc


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
