"""Keyword queries for BM25: Chinese questions cut with jieba, question words and particles dropped.

Weaviate's gse tokenizer already splits Chinese text, but a question such as "我家团子是什么品种的猫？"
is mostly function words (我, 是, 什么, 的) that match almost every memory; sending only the content
words ("我家 团子 品种 猫") keeps the lexical signal sharp. English queries are sent as they are
(Weaviate drops English stop words itself).

Example::

    >>> bm25_query("我家团子是什么品种的猫？")
    '我家 团子 品种 猫'
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache

from memos_integrations.domain.text import has_cjk

_ZH_STOP_TEXT = (
    "的 了 吗 呢 吧 啊 呀 么 是 在 有 和 与 及 或 也 都 就 还 又 把 被 给 让 对 从 向 到 为 以 于 上 下 里 中 "
    "我 你 他 她 它 我们 你们 他们 她们 咱们 自己 这 那 这个 那个 这些 那些 哪 哪个 哪些 哪里 哪儿 什么 啥 "
    "怎么 怎样 怎么样 如何 为什么 为何 多少 几 谁 一下 一个 一些 之前 之后 现在 时候 当时 曾经 已经 "
    "会 能 可以 要 想 去 来 说 过 着 得 地 很 最 更 太 请问 问 告诉 记得 知道 家 个"
)
_ZH_STOP = frozenset(_ZH_STOP_TEXT.split())
_PUNCT = set("，。！？、；：“”‘’（）《》【】…—·,.!?;:'\"()[]{}<>/\\-_=+*&^%$#@~` \t\n")
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    import jieba

    with _lock:
        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
    return jieba


def warm_up() -> None:
    """Load jieba's dictionary now (about a second) instead of on the first Chinese query."""
    _jieba()


@lru_cache(maxsize=4096)
def _cut(text: str) -> tuple[str, ...]:
    return tuple(_jieba().lcut(text))


def zh_words(text: str) -> list[str]:
    """Content words of a (mixed) Chinese text: jieba words minus particles, pronouns, question words."""
    words = []
    for word in _cut(text):
        w = word.strip()
        if not w or w in _ZH_STOP or all(ch in _PUNCT for ch in w):
            continue
        words.append(w)
    return list(dict.fromkeys(words))


def bm25_query(query: str) -> str:
    """The text sent to BM25 for a query (content words for Chinese; the query itself otherwise)."""
    if not has_cjk(query):
        return query
    words = zh_words(query)
    return " ".join(words) if words else query
