"""Time cues (Chinese rule table, English rules + dateparser) and the forgetting curve maths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from memos_integrations.domain.models import MemoryRecord
from memos_integrations.pipeline.impression import decayed_impression, reinforce
from memos_integrations.pipeline.timecues import find_time_window

CN = timezone(timedelta(hours=8))
REF = datetime(2025, 8, 10, 10, 0, tzinfo=CN)  # a Sunday


@pytest.mark.parametrize(("query", "start", "end"), [
    ("我昨晚吃了什么", datetime(2025, 8, 9, 17, tzinfo=CN), datetime(2025, 8, 10, 5, tzinfo=CN)),
    ("上周我去哪了", datetime(2025, 7, 28, tzinfo=CN), datetime(2025, 8, 4, tzinfo=CN)),
    ("三月份我在做什么", datetime(2025, 3, 1, tzinfo=CN), datetime(2025, 4, 1, tzinfo=CN)),
    ("去年12月的事", datetime(2024, 12, 1, tzinfo=CN), datetime(2025, 1, 1, tzinfo=CN)),
    ("上周三见了谁", datetime(2025, 7, 30, tzinfo=CN), datetime(2025, 7, 31, tzinfo=CN)),
    ("前天", datetime(2025, 8, 8, tzinfo=CN), datetime(2025, 8, 9, tzinfo=CN)),
    ("What did I eat last night?", datetime(2025, 8, 9, 17, tzinfo=CN), datetime(2025, 8, 10, 5, tzinfo=CN)),
    ("where was I last week", datetime(2025, 7, 28, tzinfo=CN), datetime(2025, 8, 4, tzinfo=CN)),
    ("what did I do in May?", datetime(2025, 5, 1, tzinfo=CN), datetime(2025, 6, 1, tzinfo=CN)),
    ("What happened on 8 May 2023?", datetime(2023, 5, 8, tzinfo=CN), datetime(2023, 5, 9, tzinfo=CN)),
    ("in 2022", datetime(2022, 1, 1, tzinfo=CN), datetime(2023, 1, 1, tzinfo=CN)),
])
def test_time_cue_windows(query: str, start: datetime, end: datetime) -> None:
    window = find_time_window(query, REF)
    assert window is not None
    assert (window.start, window.end) == (start, end)


@pytest.mark.parametrize("query", ["May I ask what my cat is called?", "我家猫叫什么", "what is my job"])
def test_no_time_cue(query: str) -> None:
    assert find_time_window(query, REF) is None


def test_decay_follows_ebbinghaus_and_reinforcement_slows_it() -> None:
    now = datetime(2025, 1, 31, tzinfo=UTC)
    rec = MemoryRecord(cube_id="c", user_id="u", memory="m", last_reinforced_at=datetime(2025, 1, 1, tzinfo=UTC))
    fresh = decayed_impression(rec, datetime(2025, 1, 1, tzinfo=UTC))
    month = decayed_impression(rec, now)
    assert fresh == pytest.approx(1.0)
    assert month == pytest.approx(0.1 + 0.9 * 2.718281828 ** -1, rel=1e-3)  # t = S = 30 days
    changes = reinforce(rec, now)
    assert changes["recall_count"] == 1 and changes["impression"] > month
    stronger = rec.model_copy(update=changes)
    later = now + timedelta(days=30)
    plain = stronger.model_copy(update={"recall_count": 0})
    assert decayed_impression(stronger, later) > decayed_impression(plain, later)  # slower decay after a recall
    mention = reinforce(rec, now, kind="mention")
    assert mention["mention_count"] == 2 and mention["impression"] > changes["impression"]
