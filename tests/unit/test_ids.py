import time
import uuid

from shared.ids import time_ordered_stream, time_ordered_uuid, time_ordered_uuids


def test_time_ordered_ids_are_version_7_and_strictly_increasing():
    stream = time_ordered_stream(batch=100)
    # One at a time, in bulk past a millisecond's 4,096 sequence numbers, and from a stream, interleaved.
    ids = [time_ordered_uuid() for _ in range(5_000)] + time_ordered_uuids(10_000)
    ids += [next(stream) for _ in range(1_000)] + [time_ordered_uuid()]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for made in (ids[0], ids[9_000], ids[-2]):
        parsed = uuid.UUID(made)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == made


def test_time_ordered_id_leads_with_the_unix_milliseconds():
    before = time.time_ns() // 1_000_000
    ms = int(time_ordered_uuid().replace("-", "")[:12], 16)
    assert before <= ms <= before + 5_000
