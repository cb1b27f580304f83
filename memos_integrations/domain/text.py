"""Language of a text: the one CJK test every layer uses (storage picks the Chinese BM25
property with it, the pipeline picks zh/en prompts and tokenisation)."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def has_cjk(text: str) -> bool:
    """True when the text holds Chinese, Japanese or Korean characters.

    >>> has_cjk("我住在上海"), has_cjk("I live in Shanghai")
    (True, False)
    """
    return bool(_CJK.search(text))


def detect_language(text: str) -> str:
    """``zh`` when the text holds CJK characters, else ``en``."""
    return "zh" if has_cjk(text) else "en"
