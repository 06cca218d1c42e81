"""A full read's ids, held 16 bytes a GUID: every id comes back as it went in, however it is written."""

import uuid

from services.fetcher.ids import Ids, packed, unpacked


def test_every_id_comes_back_as_it_was_added_duplicates_included():
    guids = [str(uuid.uuid4()) for _ in range(50)]
    odd = [
        "u1",
        "",
        "ABCDEF01-2345-6789-ABCD-EF0123456789",  # upper case: kept as written
        "12345678-1234-1234-1234-123456789012",  # digits only
        "1234567 -1234-1234-1234-123456789012",  # fromhex would pass over the space
        "12345678-1234-1234-1234-1234567890-2",
        "ab345678-1234-1234-1234-12345678901g",
    ]
    ids = Ids([*guids, *odd, guids[0]])
    assert sorted(ids) == sorted([*guids, *odd, guids[0]])
    assert bool(ids) and not Ids()


def test_only_a_guid_as_graph_writes_it_is_packed():
    guid = str(uuid.uuid4())
    assert packed(guid) == uuid.UUID(guid).bytes and unpacked(packed(guid)) == guid
    assert packed("12345678-1234-1234-1234-123456789012") is not None
    for other in ("ABCDEF01-2345-6789-ABCD-EF0123456789", "1234567 -1234-1234-1234-123456789012", "x" * 36):
        assert packed(other) is None
