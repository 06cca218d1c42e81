import time
import uuid

from shared.ids import time_ordered_uuid


def test_time_ordered_ids_are_version_7_and_strictly_increasing():
    ids = [time_ordered_uuid() for _ in range(20_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == ids[0]


def test_time_ordered_id_leads_with_the_unix_milliseconds():
    before = time.time_ns() // 1_000_000
    ms = int(time_ordered_uuid().replace("-", "")[:12], 16)
    assert before <= ms <= before + 5_000
