"""Client secrets under a key list, newest first, and the signing key derived apart from them."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.fernet import Fernet

from shared.crypto import UndecryptableSecret, decrypt, encrypt, needs_rotation, rotate, signing_key

A, B, C = "key-a-0123456789abcdef", "key-b-0123456789abcdef", "key-c-0123456789abcdef"


def fernet_material(key: str) -> bytes:
    """The 32 bytes a single key has always been stretched to (Fernet's signing half, then its encryption
    half)."""
    return hashlib.sha256(key.encode()).digest()


def test_a_secret_stored_under_the_one_old_key_still_opens():
    old = Fernet(base64.urlsafe_b64encode(fernet_material(A))).encrypt(b"s3cr3t")
    assert decrypt([A], old) == "s3cr3t"
    assert decrypt([B, A], old) == "s3cr3t"


def test_the_newest_key_encrypts_and_any_key_of_the_list_decrypts():
    token = encrypt([B, A], "s3cr3t")
    assert decrypt([B], token) == "s3cr3t"
    with pytest.raises(UndecryptableSecret, match="CARDSYNC_SECRET_KEYS") as refused:
        decrypt([A], token)
    assert "s3cr3t" not in str(refused.value)
    assert decrypt([C, A], encrypt([A], "x")) == "x"


def test_rotation_moves_a_secret_to_the_newest_key_and_is_needed_only_once():
    old = encrypt([A], "s3cr3t")
    assert needs_rotation([B, A], old)
    rotated = rotate([B, A], old)
    assert decrypt([B], rotated) == "s3cr3t" and not needs_rotation([B, A], rotated)
    with pytest.raises(UndecryptableSecret):
        rotate([C, B], old)


def test_a_lone_string_or_no_key_is_refused_not_taken_letter_by_letter():
    with pytest.raises(TypeError):
        encrypt(A, "s3cr3t")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        decrypt([], encrypt([A], "s3cr3t"))
    with pytest.raises(TypeError):
        signing_key(A)  # type: ignore[arg-type]


def test_the_signing_key_is_stable_newest_only_and_apart_from_the_encryption_key():
    key = signing_key([B, A])
    assert len(key) == 32 and key == signing_key([B, A]) == signing_key([B])
    assert key != signing_key([A])
    material = fernet_material(B)
    assert key != material and key[:16] not in material and key[16:] not in material
