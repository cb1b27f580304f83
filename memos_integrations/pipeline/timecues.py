"""Time cues in queries: 昨晚 / 上周 / 三月份 / last night / last week / in May ... -> a time window.

Windows are computed relative to a reference time (the moment the question is asked; default now)
and in that reference time's own timezone, so "昨晚" for a user in UTC+8 means their evening.
Relative expressions in Chinese use a small rule table (no maintained library parses them well);
English relative phrases use a rule table too, and absolute English dates ("on 8 May 2023",
"2023-05-08") go through :func:`dateparser.search.search_dates`, only when the query holds a
digit or a month name (it costs milliseconds).

Example::

    >>> from datetime import datetime, UTC
    >>> w = find_time_window("What did I eat last night?", datetime(2025, 3, 10, 9, tzinfo=UTC))
    >>> (w.start.day, w.end.day, w.cue)
    (9, 10, 'last night')
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["TimeWindow", "find_time_window", "time_boost"]


@dataclass(frozen=True)
class TimeWindow:
    """A half-open window ``[start, end)`` named by the cue that produced it."""

    start: datetime
    end: datetime
    cue: str
    weight: float = 1.0  # vaguer cues ("recently", 最近) weigh less

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    def contains(self, when: datetime) -> bool:
        return self.start <= when < self.end


def time_boost(window: TimeWindow, when: datetime | None, strength: float) -> float:
    """Boost for a memory that happened at ``when``: full inside the window, half within one window
    length of its edges, nothing further away (or when the time is unknown)."""
    if when is None:
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if window.contains(when):
        return strength * window.weight
    slack = max(window.span, timedelta(days=1))
    if window.start - slack <= when < window.end + slack:
        return 0.5 * strength * window.weight
    return 0.0


# ------------------------------------------------------------------------------------------------
# calendar helpers


def _day(ref: datetime, offset: int = 0) -> tuple[datetime, datetime]:
    start = ref.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=offset)
    return start, start + timedelta(days=1)


def _night(ref: datetime, offset: int) -> tuple[datetime, datetime]:
    start, _ = _day(ref, offset)
    return start + timedelta(hours=17), start + timedelta(days=1, hours=5)


def _week(ref: datetime, offset: int = 0) -> tuple[datetime, datetime]:
    monday, _ = _day(ref, -ref.weekday())
    start = monday + timedelta(weeks=offset)
    return start, start + timedelta(weeks=1)


def _weekday(ref: datetime, week_offset: int, weekday: int) -> tuple[datetime, datetime]:
    start, _ = _week(ref, week_offset)
    start = start + timedelta(days=weekday)
    return start, start + timedelta(days=1)


def _weekend(ref: datetime, offset: int) -> tuple[datetime, datetime]:
    start, _ = _week(ref, offset)
    return start + timedelta(days=5), start + timedelta(days=7)


def _month(year: int, month: int, ref: datetime) -> tuple[datetime, datetime]:
    while month < 1:
        month += 12
        year -= 1
    while month > 12:
        month -= 12
        year += 1
    start = ref.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=year + 1, month=1) if month == 12 else start.replace(month=month + 1)
    return start, end


def _year(ref: datetime, offset: int) -> tuple[datetime, datetime]:
    start = ref.replace(year=ref.year + offset, month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, start.replace(year=start.year + 1)


def _recent_month(ref: datetime, month: int) -> int:
    """The year of the latest ``month`` not after the reference month."""
    return ref.year if month <= ref.month else ref.year - 1


def _ago(ref: datetime, n: float, unit: str) -> tuple[datetime, datetime]:
    days = {"day": 1, "week": 7, "month": 30.44, "year": 365.25}[unit] * n
    center = ref - timedelta(days=days)
    half = timedelta(days={"day": 1, "week": 4, "month": 16, "year": 183}[unit])
    if unit == "day":
        return _day(center)
    return center - half, center + half


# ------------------------------------------------------------------------------------------------
# Chinese

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_CN_NUM = r"[0-9０-９零〇一二两三四五六七八九十百]+"
_CN_WEEKDAY = {"一": 0, "1": 0, "二": 1, "2": 1, "三": 2, "3": 2, "四": 3, "4": 3, "五": 4, "5": 4, "六": 5,
               "6": 5, "日": 6, "天": 6, "7": 6}


def cn_number(text: str) -> int | None:
    """``"十二"`` -> 12, ``"3"`` -> 3, ``"二十一"`` -> 21 (small numbers only)."""
    text = text.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


Rule = tuple[re.Pattern[str], Callable[[re.Match[str], datetime], tuple[datetime, datetime] | None], float]


def _zh_month(m: re.Match[str], ref: datetime) -> tuple[datetime, datetime] | None:
    year_word, month_text, day_text = m.group("year"), m.group("month"), m.group("day")
    month = cn_number(month_text)
    if month is None or not 1 <= month <= 12:
        return None
    if year_word and year_word.endswith("年") and year_word[:-1].isdigit():
        year = int(year_word[:-1])
    else:
        year = {"去年": ref.year - 1, "前年": ref.year - 2, "今年": ref.year}.get(year_word or "",
                                                                         _recent_month(ref, month))
    if day_text:
        day = cn_number(day_text)
        if day is None or not 1 <= day <= 31:
            return None
        try:
            start = ref.replace(year=year, month=month, day=day, hour=0, minute=0, second=0, microsecond=0)
        except ValueError:
            return None
        return start, start + timedelta(days=1)
    return _month(year, month, ref)


def _zh_ago(m: re.Match[str], ref: datetime) -> tuple[datetime, datetime] | None:
    n = cn_number(m.group("n")) if m.group("n") not in ("几", "") else 3
    if n is None:
        return None
    unit = {"天": "day", "日": "day", "周": "week", "星期": "week", "礼拜": "week", "个月": "month", "月": "month",
            "年": "year"}[m.group("unit")]
    return _ago(ref, n, unit)


def _zh_weekday(m: re.Match[str], ref: datetime) -> tuple[datetime, datetime] | None:
    offset = {"上": -1, "上个": -1, "这": 0, "这个": 0, "本": 0, "下": 1, "下个": 1}.get(m.group("which"), 0)
    return _weekday(ref, offset, _CN_WEEKDAY[m.group("d")])


_ZH_RULES: list[Rule] = [
    (re.compile(r"(?P<year>\d{4}年|去年|前年|今年)?(?P<month>" + _CN_NUM + r")月份?(?:(?P<day>" + _CN_NUM
                + r")[日号])?"), _zh_month, 1.0),
    (re.compile(r"(?P<n>" + _CN_NUM + r"|几)(?P<unit>天|日|周|星期|礼拜|个月|年)(?:前|之前|以前)"), _zh_ago, 0.8),
    (re.compile(r"(?P<which>上个|上|这个|这|本)(?:周|星期|礼拜)(?P<d>[一二三四五六日天1-7])"), _zh_weekday, 1.0),
    (re.compile(r"大前天"), lambda m, r: _day(r, -3), 1.0),
    (re.compile(r"前天晚上|前晚"), lambda m, r: _night(r, -2), 1.0),
    (re.compile(r"前天"), lambda m, r: _day(r, -2), 1.0),
    (re.compile(r"昨晚|昨夜|昨天晚上|昨天夜里"), lambda m, r: _night(r, -1), 1.0),
    (re.compile(r"昨天|昨日"), lambda m, r: _day(r, -1), 1.0),
    (re.compile(r"今晚|今天晚上"), lambda m, r: _night(r, 0), 1.0),
    (re.compile(r"今天|今日|今早|今天早上|今天上午|今天下午"), lambda m, r: _day(r, 0), 1.0),
    (re.compile(r"上(?:个)?周末"), lambda m, r: _weekend(r, -1), 1.0),
    (re.compile(r"(?:这个?|本)周末"), lambda m, r: _weekend(r, 0), 1.0),
    (re.compile(r"上上(?:个)?(?:周|星期|礼拜)"), lambda m, r: _week(r, -2), 1.0),
    (re.compile(r"上(?:个)?(?:周|星期|礼拜)"), lambda m, r: _week(r, -1), 1.0),
    (re.compile(r"(?:这个?|本)(?:周|星期|礼拜)"), lambda m, r: _week(r, 0), 1.0),
    (re.compile(r"上上个月"), lambda m, r: _month(r.year, r.month - 2, r), 1.0),
    (re.compile(r"上(?:个)?月"), lambda m, r: _month(r.year, r.month - 1, r), 1.0),
    (re.compile(r"(?:这个|本)月"), lambda m, r: _month(r.year, r.month, r), 1.0),
    (re.compile(r"前年"), lambda m, r: _year(r, -2), 1.0),
    (re.compile(r"去年"), lambda m, r: _year(r, -1), 1.0),
    (re.compile(r"今年"), lambda m, r: _year(r, 0), 0.6),
    (re.compile(r"最近|近来|这几天|这阵子|近期"), lambda m, r: (r - timedelta(days=30), r + timedelta(hours=1)), 0.5),
]

# ------------------------------------------------------------------------------------------------
# English

_MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"], 1)}
_MONTHS.update({k[:3]: v for k, v in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_EN_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
               "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a few": 3, "few": 3, "several": 4,
               "a couple of": 2, "couple of": 2}
_WEEKDAYS = {d: i for i, d in enumerate(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                        "sunday"])}
_MONTH_RE = r"(?P<month>january|february|march|april|may|june|july|august|september|october|november|december|" \
            r"jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)"


def _en_ago(m: re.Match[str], ref: datetime) -> tuple[datetime, datetime] | None:
    raw = m.group("n").lower()
    n = int(raw) if raw.isdigit() else _EN_NUMBERS.get(raw)
    if n is None:
        return None
    return _ago(ref, n, m.group("unit").lower().rstrip("s"))


def _en_month(m: re.Match[str], ref: datetime) -> tuple[datetime, datetime] | None:
    month = _MONTHS[m.group("month").lower()]
    year_text = m.group("year")
    if year_text:
        year = int(year_text)
    elif m.group("last"):
        year = ref.year if month < ref.month else ref.year - 1
    else:
        year = _recent_month(ref, month)
    return _month(year, month, ref)


def _en_weekday(m: re.Match[str], ref: datetime) -> tuple[datetime, datetime] | None:
    day = _WEEKDAYS[m.group("d").lower()]
    which = (m.group("which") or "").lower()
    if which == "last":
        offset = -1 if day >= ref.weekday() else 0
        if offset == 0 and day == ref.weekday():
            offset = -1
    elif which == "this":
        offset = 0
    else:  # "on Monday": the latest such day up to today
        offset = 0 if day <= ref.weekday() else -1
    return _weekday(ref, offset, day)


_EN_RULES: list[Rule] = [
    (re.compile(r"\b(?P<n>\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a few|few|"
                r"several|a couple of|couple of)\s+(?P<unit>days?|weeks?|months?|years?)\s+ago\b", re.IGNORECASE),
     _en_ago, 0.8),
    (re.compile(r"\bthe day before yesterday\b", re.IGNORECASE), lambda m, r: _day(r, -2), 1.0),
    (re.compile(r"\b(?:last night|yesterday (?:evening|night))\b", re.IGNORECASE), lambda m, r: _night(r, -1), 1.0),
    (re.compile(r"\byesterday\b", re.IGNORECASE), lambda m, r: _day(r, -1), 1.0),
    (re.compile(r"\b(?:tonight|this (?:morning|afternoon|evening)|today)\b", re.IGNORECASE), lambda m, r: _day(r, 0), 1.0),
    (re.compile(r"\b(?P<which>last|this|on)\s+(?P<d>monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
                re.IGNORECASE), _en_weekday, 1.0),
    (re.compile(r"\blast weekend\b", re.IGNORECASE), lambda m, r: _weekend(r, -1), 1.0),
    (re.compile(r"\bthis weekend\b", re.IGNORECASE), lambda m, r: _weekend(r, 0), 1.0),
    (re.compile(r"\b(?:last|previous|past) week\b", re.IGNORECASE), lambda m, r: _week(r, -1), 1.0),
    (re.compile(r"\bthis week\b", re.IGNORECASE), lambda m, r: _week(r, 0), 1.0),
    (re.compile(r"\b(?:last|previous|past) month\b", re.IGNORECASE), lambda m, r: _month(r.year, r.month - 1, r), 1.0),
    (re.compile(r"\bthis month\b", re.IGNORECASE), lambda m, r: _month(r.year, r.month, r), 1.0),
    (re.compile(r"\b(?:last|previous|past) year\b", re.IGNORECASE), lambda m, r: _year(r, -1), 1.0),
    (re.compile(r"\bthis year\b", re.IGNORECASE), lambda m, r: _year(r, 0), 0.6),
    (re.compile(r"\b(?:(?P<last>last)\s+|(?:in|during|since|early|late|mid)\s+)" + _MONTH_RE
                + r"(?:\s*,?\s*(?P<year>(?:19|20)\d\d))?\b", re.IGNORECASE), _en_month, 1.0),
    (re.compile(r"\b(?P<last>)" + _MONTH_RE + r"\s*,?\s*(?P<year>(?:19|20)\d\d)\b", re.IGNORECASE), _en_month, 1.0),
    (re.compile(r"\b(?:in|during|since)\s+(?P<y>(?:19|20)\d\d)\b", re.IGNORECASE),
     lambda m, r: _year(r, int(m.group("y")) - r.year), 1.0),
    (re.compile(r"\b(?:recently|lately|these days)\b", re.IGNORECASE),
     lambda m, r: (r - timedelta(days=30), r + timedelta(hours=1)), 0.5),
]

_MONTH_PLAIN = _MONTH_RE.replace("?P<month>", "?:")
_HAS_DATE_HINT = re.compile(r"\d{1,4}[-/.]\d{1,2}|\b\d{1,2}(?:st|nd|rd|th)?\s+" + _MONTH_PLAIN + r"\b|\b"
                            + _MONTH_PLAIN + r"\s+\d{1,2}(?:st|nd|rd|th)?\b", re.IGNORECASE)


def _en_absolute(query: str, ref: datetime) -> TimeWindow | None:
    """Explicit dates ("on 8 May 2023", "May 8", "2023-05-08") via dateparser's search_dates."""
    hint = _HAS_DATE_HINT.search(query)
    if not hint:
        return None
    from dateparser.search import search_dates

    settings = {"RELATIVE_BASE": ref.replace(tzinfo=None), "PREFER_DATES_FROM": "past",
                "RETURN_AS_TIMEZONE_AWARE": False, "REQUIRE_PARTS": ["day", "month"]}
    try:
        found = search_dates(query, languages=["en"], settings=settings)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - dateparser raises assorted errors on odd input
        return None
    if not found:
        return None
    text, when = found[0]
    start = when.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=ref.tzinfo)
    return TimeWindow(start, start + timedelta(days=1), text.strip())


def find_time_window(query: str, reference_time: datetime | None = None) -> TimeWindow | None:
    """The time window a query refers to, or None when it has no time cue.

    Both languages are tried (queries mix them); the first matching rule wins, in order of
    specificity (explicit month/day, "N days ago", weekday, day, week, month, year, "recently").
    """
    ref = reference_time or datetime.now(UTC)
    if ref.tzinfo is None:
        ref = ref.replace(tzinfo=UTC)
    found = _apply(_ZH_RULES, query, ref)
    if found is None:
        found = _en_absolute(query, ref)
    if found is None:
        found = _apply(_EN_RULES, query, ref)
    return found


def _apply(rules: list[Rule], query: str, ref: datetime) -> TimeWindow | None:
    for pattern, make, weight in rules:
        match = pattern.search(query)
        if not match:
            continue
        window = make(match, ref)
        if window is not None:
            return TimeWindow(window[0], window[1], match.group(0).strip(), weight)
    return None
