#!/usr/bin/env python3
"""End-to-end answer quality: the LoCoMo QA protocol of the mem0 and MemOS papers (LLM-as-judge J).

Each conversation is memorized into its own cube (fast mode by default; ``--memorize-mode fine``:
LLM extraction + reconciliation with the chat model), one request per session (speaker as
``character``, session time as ``chat_time``, the turn id as ``info["dia_id"]`` and ``message_id``).
Then, per question (LoCoMo categories 1-4: multi_hop, temporal, open_domain, single_hop; the
adversarial category 5 is skipped as in both papers; zh dev: every category but ``adversarial``):

1. recall (``engine.recall``, ``--recall-mode`` fast by default, ``--top-k`` 20, relativity
   threshold ``--relativity`` 0, "now" = the question's time when the data gives one, else the
   conversation's last session);
2. answer with the chat model from the recalled memories (a prompt in the style of the mem0 /
   MemOS LoCoMo answer prompt: timestamps, resolve relative times, at most 5-6 words);
3. judge with an LLM (the mem0 paper's judge style: the gold and the generated answer, generous
   matching, CORRECT / WRONG). J = share of CORRECT, per category and overall (micro average).

Also reported: evidence recall@10 of the recalled memories (as ``benchmarks/retrieval.py``: the
share of a question's evidence turns among the top 10 distinct turns; fine-mode memories count
the turns they were extracted from), latency p50/p95 of recall, answer and judge, and tokens per
question (the model's ``usage_metadata`` when it reports it, else a tokenizer-free estimate).

Models: ``CHAT_MODEL_LIST`` (the app's setting, first model or ``--model-name``) or any
OpenAI-compatible server (``--model-url/--model-name/--api-key``: vLLM, Ollama, ...); the judge
likewise (``--judge-url/--judge-name/--judge-api-key``, default the answer model). ``--fake``
runs a deterministic fake model (extractive answers, an oracle judge that says CORRECT when the
answer contains the gold answer): plumbing only, its J says nothing about answer quality.

    python benchmarks/answer_quality.py --fake --limit-questions 20 --out benchmarks/results/answer_quality.md
    python benchmarks/answer_quality.py --model-url http://127.0.0.1:8000/v1 --model-name Qwen/Qwen2.5-7B-Instruct
    python benchmarks/answer_quality.py --model-url http://127.0.0.1:11434/v1 --model-name qwen2.5:7b \\
        --memorize-mode fine --workers 4 --out benchmarks/results/answer_quality.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from retrieval import (  # the retrieval benchmark's loaders and helpers, reused as they are
    DATA,
    CachedEmbeddings,
    Conversation,
    Question,
    load,
    make_embedder,
    pct,
    ranked_turns,
)
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
LOCOMO_CATEGORY_IDS = (1, 2, 3, 4)  # the retrieval loader keeps these (5 = adversarial is skipped)
EVIDENCE_K = 10

# ------------------------------------------------------------------------------------------------
# prompts (written for this benchmark in the style of the mem0 / MemOS LoCoMo evaluation prompts)

ANSWER_MARKER = "You answer questions about a long conversation between two people"
ANSWER_PROMPT = ANSWER_MARKER + """, using the memories recalled from it.

# Memories
Each memory starts with the date and time it was said (or happened), then who said it.
{memories}

# How to answer
1. Read every memory that concerns the question; answer only from what the memories say.
2. Mind the dates: when a memory says "yesterday", "last week" or "last year", work out the actual \
date from the memory's own date (a memory of 4 May 2022 saying "last year" means 2021) and answer \
with that date, month or year, never with the relative words.
3. If memories contradict each other, trust the most recent one.
4. Do not confuse the two speakers with other people named in the memories.
5. Answer in the language of the question, as a short phrase of at most 5-6 words.

Current date: {now}
Question: {question}
Answer:"""

JUDGE_MARKER = "Label an answer to a question as CORRECT or WRONG"
JUDGE_PROMPT = JUDGE_MARKER + """. You get a question that one person asks about \
their earlier conversations with another, the gold (ground-truth) answer, and a generated answer.

The gold answer is usually short; the generated answer may be longer or worded differently. Be \
generous: it is CORRECT if it is about the same thing as the gold answer. For questions about time, \
it is CORRECT if it names the same date or period, whatever the format ("May 7th" and "7 May" are \
the same date). It is WRONG if it names something else or says it does not know.

Question: {question}
Gold answer: {gold}
Generated answer: {answer}

First give a one-sentence reason, then the label as JSON: {{"label": "CORRECT"}} or {{"label": "WRONG"}}. \
Never write both labels."""

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_LABEL_JSON = re.compile(r'"label"\s*:\s*"?\s*(CORRECT|WRONG|INCORRECT)', re.IGNORECASE)
_LABEL_WORD = re.compile(r"\b(CORRECT|WRONG|INCORRECT)\b", re.IGNORECASE)


def strip_reasoning(text: str) -> str:
    """The answer without ``<think>...</think>`` blocks (reasoning models, the test stub)."""
    text = _THINK.sub("", text)
    if "</think>" in text:  # an opening tag the server swallowed
        text = text.split("</think>")[-1]
    return text.strip()


def parse_label(text: str) -> bool | None:
    """True (CORRECT), False (WRONG) or None (no label found) from a judge's answer."""
    text = strip_reasoning(text)
    found = _LABEL_JSON.findall(text) or _LABEL_WORD.findall(text)
    if not found:
        return None
    return found[-1].upper() == "CORRECT"


def estimate_tokens(text: str) -> int:
    """Tokenizer-free estimate: one token per CJK character, one per 4 other characters."""
    cjk = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff")
    return cjk + math.ceil((len(text) - cjk) / 4)


def normalize(text: str) -> str:
    return re.sub(r"[\W_]+", " ", str(text).casefold()).strip()


def answer_contains_gold(answer: str, gold: str) -> bool:
    """The fake oracle judge's rule: the gold answer (normalized) occurs in the generated one."""
    g, a = normalize(gold), normalize(answer)
    return bool(g) and f" {g} " in f" {a} "


# ------------------------------------------------------------------------------------------------
# the deterministic fake model (--fake): plumbing only


class FakeBenchModel(BaseChatModel):
    """A deterministic stand-in for a chat model, answering each prompt this benchmark and the
    package send by its shape: fine-mode extraction (one fact per message), reconciliation
    (everything new), fine-recall rewrite and filter (query as is, keep all), the answer prompt
    (the recalled memory sharing most words with the question) and the judge prompt (an oracle:
    CORRECT when the generated answer contains the gold answer). It reports no token usage."""

    @property
    def _llm_type(self) -> str:
        return "fake-answer-quality"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        text = "\n".join(m.content if isinstance(m.content, str) else json.dumps(m.content) for m in messages)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.reply(text)))])

    @staticmethod
    def reply(text: str) -> str:
        if JUDGE_MARKER in text:
            gold = re.search(r"^Gold answer: (.*)$", text, re.MULTILINE)
            answer = re.search(r"^Generated answer: (.*?)\n\nFirst give", text, re.MULTILINE | re.DOTALL)
            ok = bool(gold and answer and answer_contains_gold(answer.group(1), gold.group(1)))
            return f'Oracle comparison of the answer with the gold answer. {{"label": "{"CORRECT" if ok else "WRONG"}"}}'
        if ANSWER_MARKER in text:
            question = re.search(r"^Question: (.*)$", text, re.MULTILINE)
            block = text.split("# Memories", 1)[-1].split("# How to answer", 1)[0]
            lines = [ln.strip() for ln in block.splitlines() if ln.strip().startswith("- [")]
            words = set(normalize(question.group(1) if question else "").split())
            best = max(lines, key=lambda ln: (len(words & set(normalize(ln).split())), -lines.index(ln)), default="")
            best = re.sub(r"^- \[[^\]]*\]\s*", "", best)
            return best or "I don't know"
        if "Conversation:\n" in text or "对话：\n" in text:
            facts = []
            for m in re.finditer(r"^\[(\d+)\](?: \([^)]*\))? (.+?) \((?:user|assistant)\): (.*)$", text, re.MULTILINE):
                facts.append({"key": "", "value": f"{m.group(2)}: {m.group(3)}", "memory_type": "UserMemory",
                              "message_indexes": [int(m.group(1))]})
            return json.dumps({"summary": "", "facts": facts}, ensure_ascii=False)
        if "NEW memories:" in text or "新记忆：" in text or "NEW relations:" in text or "新关系：" in text:
            return '{"facts": [], "relations": []}'
        if "Candidate memories:" in text or "候选记忆：" in text:
            n = len(re.findall(r"^\d+\. ", text, re.MULTILINE))
            return json.dumps(list(range(1, n + 1)))
        last = re.search(r"(?:Last question|最后的问题)[:：]\s*(.*)$", text, re.MULTILINE)
        return last.group(1) if last else "OK"


# ------------------------------------------------------------------------------------------------
# data: the retrieval benchmark's loaders + the gold answers they leave out


def gold_answers(paths: Sequence[Path]) -> dict[tuple[str, str], deque[str]]:
    """(conversation id, question) -> gold answers in file order, for the questions the retrieval
    loaders keep (same filters, same conversation ids)."""
    out: dict[tuple[str, str], deque[str]] = defaultdict(deque)

    def add_locomo(conv_id: str, entry: dict[str, Any]) -> None:
        for q in entry.get("qa", []):
            if int(q.get("category", 5)) in LOCOMO_CATEGORY_IDS and q.get("evidence"):
                out[(conv_id, q["question"])].append(str(q.get("answer", "")))

    for path in paths:
        for f in (sorted(path.glob("*.json")) if path.is_dir() else [path]):
            raw = json.loads(f.read_text())
            if isinstance(raw, dict) and "conversations" in raw:
                for conv in raw["conversations"]:
                    for q in conv.get("qa", []):
                        if q.get("category") != "adversarial" and q.get("evidence"):
                            out[(conv["conversation_id"], q["question"])].append(str(q.get("answer", "")))
            elif isinstance(raw, list):
                for i, entry in enumerate(raw):
                    add_locomo(f"{f.stem}_{i}", entry)
            elif isinstance(raw, dict):
                add_locomo(f.stem, raw)
    return out


def select_questions(convs: list[Conversation], limit: int) -> list[list[int]]:
    """Indexes of the questions asked per conversation: all, or at most ``limit`` for the data set,
    shared out over its conversations and evenly spaced inside each (every category shows up)."""
    if not limit:
        return [list(range(len(c.questions))) for c in convs]
    share = [limit // len(convs) + (1 if i < limit % len(convs) else 0) for i in range(len(convs))]
    picked = []
    for conv, m in zip(convs, share, strict=True):
        n = len(conv.questions)
        m = min(m, n)
        picked.append(sorted({int(i * n / m) for i in range(m)}) if m else [])
    return picked


def last_session_time(conv: Conversation) -> datetime | None:
    from memos_integrations.pipeline.text import parse_when

    times = [t for s in conv.sessions if (t := parse_when(s.date_time)) is not None]
    return max(times) if times else None


# ------------------------------------------------------------------------------------------------
# models


def build_model(url: str | None, name: str | None, api_key: str | None, timeout: float) -> tuple[BaseChatModel, str]:
    """A chat model from an OpenAI-compatible URL, or from ``CHAT_MODEL_LIST`` (the app's setting)."""
    from memos_integrations.config import Settings
    from memos_integrations.llm.registry import ChatModelRegistry

    if url:
        if not name:
            raise SystemExit("--model-url / --judge-url need the served model's name (--model-name / --judge-name)")
        registry = ChatModelRegistry([{"backend": "openai", "api_base": url, "api_key": api_key or "none",
                                       "model_name_or_path": name}], timeout=timeout)
        return registry.get(name), f"`{name}` at {url}"
    configs = Settings().chat_model_list
    if not configs:
        raise SystemExit("no chat model: set CHAT_MODEL_LIST, pass --model-url and --model-name "
                         "(any OpenAI-compatible server: vLLM, Ollama, ...), or run --fake (plumbing only)")
    registry = ChatModelRegistry(configs, timeout=timeout)
    chosen = name or registry.names()[0]
    base = next((c.api_base for c in registry.configs
                 if chosen == c.model_name_or_path or chosen in c.support_models), None)
    return registry.get(chosen), f"`{chosen}` at {base or 'the default OpenAI endpoint'} (CHAT_MODEL_LIST)"


# ------------------------------------------------------------------------------------------------
# results


@dataclass
class Call:
    text: str
    ms: float
    prompt_tokens: int
    completion_tokens: int
    measured: bool  # tokens from usage_metadata (else estimated)
    error: str | None = None


@dataclass
class Row:
    dataset: str
    conversation: str
    category: str
    question: str
    gold: str
    answer: str
    correct: bool
    judge_parsed: bool
    evidence_recall: float
    evidence_recall_memories: float
    recall_ms: float
    answer_ms: float
    judge_ms: float
    memory_tokens: int
    answer_prompt_tokens: int
    answer_completion_tokens: int
    judge_tokens: int
    tokens_measured: bool
    recalled: int
    error: str | None = None


@dataclass
class DatasetResult:
    name: str
    conversations: int
    turns: int
    questions_available: int
    rows: list[Row] = field(default_factory=list)
    memorize_ms: list[float] = field(default_factory=list)  # per session request
    memories_stored: int = 0
    memorize_llm_calls: int = 0
    memorize_failures: list[str] = field(default_factory=list)

    def j_by_category(self) -> dict[str, tuple[int, float]]:
        """category -> (n, J in percent), plus ``overall`` (micro average over questions)."""
        by: dict[str, list[bool]] = defaultdict(list)
        for r in self.rows:
            by[r.category].append(r.correct)
            by["overall"].append(r.correct)
        order = sorted(c for c in by if c != "overall") + ["overall"]
        return {c: (len(by[c]), 100.0 * sum(by[c]) / len(by[c])) for c in order if by[c]}


@dataclass
class Report:
    text: str
    datasets: list[DatasetResult]
    fake: bool


# ------------------------------------------------------------------------------------------------
# run


def invoke(model: Any, prompt: str) -> Call:
    """One chat call, timed, with its token usage; one retry, then the error is recorded."""
    error = None
    for attempt in range(2):
        start = time.perf_counter()
        try:
            reply = model.invoke([HumanMessage(content=prompt)])
        except Exception as exc:  # noqa: BLE001 - a long run records a failed call and goes on
            error = f"{type(exc).__name__}: {exc}"[:300]
            if attempt == 0:
                time.sleep(1.0)
            continue
        ms = (time.perf_counter() - start) * 1000
        content = reply.content if isinstance(reply.content, str) else " ".join(
            p.get("text", "") if isinstance(p, dict) else str(p) for p in reply.content)
        usage = getattr(reply, "usage_metadata", None) or {}
        if usage.get("input_tokens") is not None and usage.get("output_tokens") is not None:
            return Call(content, ms, int(usage["input_tokens"]), int(usage["output_tokens"]), True)
        return Call(content, ms, estimate_tokens(prompt), estimate_tokens(content), False)
    return Call("", 0.0, estimate_tokens(prompt), 0, False, error)


def memory_lines(items: Sequence[Any]) -> list[str]:
    lines = []
    for it in items:
        record = it.record
        when = record.happened_at or record.created_at
        stamp = when.strftime("%Y-%m-%d %H:%M") if when else "unknown time"
        text = " ".join(record.text.split())
        lines.append(f"- [{stamp}] {text}")
    return lines


def turn_ids(record: Any) -> list[str]:
    """The conversation turns (``dia_id``) a recalled memory comes from: the raw turn in fast mode,
    the messages it was extracted from in fine mode."""
    ids = [record.info.get("dia_id")] if record.info.get("dia_id") else []
    ids += [s.get("message_id") for s in (record.sources or []) if s.get("message_id")]
    return list(dict.fromkeys(ids))


def memorize(engine: Any, cube: str, conv: Conversation, mode: Any, result: DatasetResult, bar: Any) -> None:
    from memos_integrations.domain.requests import ChatMessage, MemorizeRequest

    for s in conv.sessions:
        if not s.turns:
            continue
        messages = [ChatMessage(role=t.role, content=t.text, character=t.speaker, chat_time=s.date_time or None,
                                message_id=t.dia_id, info={"dia_id": t.dia_id}) for t in s.turns]
        start = time.perf_counter()
        try:
            out = engine.memorize(MemorizeRequest(user_id=cube, messages=messages, session_id=s.session_id,
                                                  mode=mode))
        except Exception as exc:  # noqa: BLE001 - e.g. an empty extraction: reported, the run goes on
            result.memorize_failures.append(f"{conv.conv_id}/{s.session_id}: {type(exc).__name__}: {str(exc)[:160]}")
        else:
            result.memories_stored += len(out.memories)
            result.memorize_llm_calls += out.llm_calls
        result.memorize_ms.append((time.perf_counter() - start) * 1000)
        bar.update(1)


def ask(engine: Any, answer_model: Any, judge_model: Any, args: argparse.Namespace, ds: str, cube: str,
        conv: Conversation, q: Question, gold: str, now: datetime | None) -> Row:
    from memos_integrations.domain.requests import RecallRequest

    ref = datetime.fromisoformat(q.asked_at) if q.asked_at else now
    start = time.perf_counter()
    result = engine.recall(RecallRequest(
        user_id=cube, query=q.question, mode=args.recall_mode, top_k=args.top_k, relativity=args.relativity,
        reference_time=ref, reinforce=False, include_preference=True, preference_top_k=min(args.top_k, 9),
        include_tool_memory=False, include_skill=False, use_common_sense=False,
    ))
    recall_ms = (time.perf_counter() - start) * 1000
    items = [*result.facts, *result.preferences]
    ev = set(q.evidence)
    turns = ranked_turns([t for it in items for t in turn_ids(it.record)], k=EVIDENCE_K)
    by_memory = {t for it in items[:EVIDENCE_K] for t in turn_ids(it.record)}
    lines = memory_lines(items)
    memories = "\n".join(lines) if lines else "(no memories found)"
    now_text = ref.strftime("%Y-%m-%d %H:%M") if ref else "unknown"
    answer = invoke(answer_model, ANSWER_PROMPT.format(memories=memories, now=now_text, question=q.question))
    answer_text = strip_reasoning(answer.text)
    judge = invoke(judge_model, JUDGE_PROMPT.format(question=q.question, gold=gold, answer=answer_text or "(no answer)"))
    label = parse_label(judge.text) if not judge.error else None
    return Row(
        dataset=ds, conversation=conv.conv_id, category=q.category, question=q.question, gold=gold,
        answer=answer_text, correct=bool(label) and not answer.error, judge_parsed=label is not None,
        evidence_recall=len(ev & set(turns)) / len(ev), evidence_recall_memories=len(ev & by_memory) / len(ev),
        recall_ms=recall_ms, answer_ms=answer.ms, judge_ms=judge.ms, memory_tokens=estimate_tokens(memories),
        answer_prompt_tokens=answer.prompt_tokens, answer_completion_tokens=answer.completion_tokens,
        judge_tokens=judge.prompt_tokens + judge.completion_tokens,
        tokens_measured=answer.measured, recalled=len(items), error=answer.error or judge.error,
    )


def start_store(weaviate_url: str | None) -> Any:
    from memos_integrations.config import Settings
    from memos_integrations.storage import embedded
    from memos_integrations.storage.store import MemoryStore

    if weaviate_url:
        settings = Settings(WEAVIATE_URL=weaviate_url)  # type: ignore[call-arg]
    else:
        def free() -> int:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                return int(s.getsockname()[1])
        settings = Settings(MEMOS_DATA_DIR=Path(tempfile.mkdtemp(prefix="memos-answer-bench-")),
                            MEMOS_EMBEDDED_HTTP_PORT=free(), MEMOS_EMBEDDED_GRPC_PORT=free())  # type: ignore[call-arg]
    client = embedded.connect(settings)
    store = MemoryStore(client, prefix="AnswerBench")
    for name in ("Memory", "MemoryIndex", "Relation", "Message", "Task", "Meta"):
        client.collections.delete(f"AnswerBench{name}")
    store.setup()
    return store


def run(args: argparse.Namespace, *, store: Any = None, answer_model: BaseChatModel | None = None,
        judge_model: BaseChatModel | None = None) -> Report:
    """The whole benchmark. ``store`` (a set-up ``MemoryStore``), ``answer_model`` and
    ``judge_model`` replace what the arguments would build (tests)."""
    from memos_integrations.config import Settings
    from memos_integrations.domain.requests import RecallRequest
    from memos_integrations.engine import MemoryEngine
    from memos_integrations.pipeline.keywords import warm_up

    settings = Settings()
    paths = [Path(p) for p in args.data]
    datasets = load(paths)
    if not datasets:
        raise SystemExit(f"no LoCoMo or zh-format data found in {args.data}")
    golds = gold_answers(paths)
    wanted_convs = {c.strip() for c in (args.conversations or "").split(",") if c.strip()}

    if args.fake:
        fake = FakeBenchModel()
        answer_label = judge_label = "deterministic fake (`FakeBenchModel`: extractive answer, oracle judge)"
        answer_model = answer_model or fake
        judge_model = judge_model or fake
        memorize_model: BaseChatModel = fake
    else:
        built, answer_label = (answer_model, "given") if answer_model else build_model(
            args.model_url, args.model_name, args.api_key, settings.model_timeout)
        memorize_model = built  # type: ignore[assignment]
        answer_model = built
        if judge_model is not None:
            judge_label = "given"
        elif args.judge_url or args.judge_name:
            judge_model, judge_label = build_model(args.judge_url or args.model_url, args.judge_name or args.model_name,
                                                   args.judge_api_key or args.api_key, settings.model_timeout)
        else:
            judge_model, judge_label = built, f"{answer_label} (same as the answer model)"
    answer_call = answer_model.bind(temperature=0)
    judge_call = judge_model.bind(temperature=0)

    inner, embedder_name = make_embedder(args.embedder)
    emb = CachedEmbeddings(inner, Path(args.cache_dir), embedder_name)
    own_store = store is None
    store = store or start_store(args.weaviate_url)
    engine = MemoryEngine(store, emb, memorize_model, settings=settings, keep_messages=False, start_tasks=False)
    warm_up()
    run_id = uuid.uuid4().hex[:6]

    results: list[DatasetResult] = []
    try:
        for ds_name, convs in datasets.items():
            if wanted_convs:
                convs = [c for c in convs if c.conv_id in wanted_convs]
            if not convs:
                continue
            picked = select_questions(convs, args.limit_questions)
            used = [(c, idx) for c, idx in zip(convs, picked, strict=True) if idx]
            result = DatasetResult(ds_name, len(used), sum(len(s.turns) for c, _ in used for s in c.sessions),
                                   sum(len(c.questions) for c in convs))
            n_sessions = sum(1 for c, _ in used for s in c.sessions if s.turns)
            with tqdm(total=n_sessions, desc=f"{ds_name} memorize ({args.memorize_mode})", file=sys.stderr,
                      disable=args.quiet) as bar:
                cubes = {}
                for conv, _ in used:
                    cube = "aq_" + hashlib.sha1(f"{run_id}|{ds_name}|{conv.conv_id}".encode()).hexdigest()[:12]
                    cubes[conv.conv_id] = cube
                    memorize(engine, cube, conv, args.memorize_mode, result, bar)
                    emb.save()
            for cube in cubes.values():  # load each cube (tenant) once, untimed, as a running server would have
                engine.recall(RecallRequest(user_id=cube, query="warm up", reinforce=False))
            jobs = []
            for conv, idx in used:
                now = last_session_time(conv)
                for i in idx:
                    q = conv.questions[i]
                    answers = golds.get((conv.conv_id, q.question))
                    gold = answers.popleft() if answers else ""
                    jobs.append((conv, q, gold, now))
            with tqdm(total=len(jobs), desc=f"{ds_name} questions", file=sys.stderr, disable=args.quiet) as bar:
                lock = threading.Lock()

                def one(job: tuple[Conversation, Question, str, datetime | None], ds: str = ds_name,
                        cube_of: dict[str, str] = cubes, bar: Any = bar, lock: Any = lock) -> Row:
                    conv, q, gold, now = job
                    row = ask(engine, answer_call, judge_call, args, ds, cube_of[conv.conv_id], conv, q, gold, now)
                    with lock:
                        bar.update(1)
                    return row

                if args.workers > 1:
                    with ThreadPoolExecutor(args.workers) as pool:
                        result.rows = list(pool.map(one, jobs))
                else:
                    result.rows = [one(job) for job in jobs]
            results.append(result)
    finally:
        emb.save()
        engine.tasks.close()
        if own_store:
            store.client.close()

    text = render(args, results, answer_label=answer_label, judge_label=judge_label, embedder=embedder_name)
    if args.details:
        Path(args.details).parent.mkdir(parents=True, exist_ok=True)
        with open(args.details, "w") as fh:
            fh.writelines(json.dumps(r.__dict__, ensure_ascii=False) + "\n" for d in results for r in d.rows)
    return Report(text, results, bool(args.fake))


# ------------------------------------------------------------------------------------------------
# report


def _ms(values: list[float]) -> str:
    return f"{pct(values, 50):.0f} | {pct(values, 95):.0f}" if values else "– | –"


def render(args: argparse.Namespace, results: list[DatasetResult], *, answer_label: str, judge_label: str,
           embedder: str) -> str:
    command = " ".join(["python", "benchmarks/answer_quality.py", *(args.argv or [])])
    lines = ["# End-to-end answer quality (LoCoMo QA protocol, LLM-as-judge J)", ""]
    if args.fake:
        lines += [("> **Fake model: plumbing only.** Every model call went to a deterministic fake (extractive "
                   "answer, an oracle judge that says CORRECT when the answer contains the gold answer). These "
                   "numbers check that the pipeline runs end to end; they say nothing about answer quality. See the "
                   "README (\"End-to-end answer quality\") for a run with a real model."), ""]
    lines += [
        (f"- machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
         f"Python {platform.python_version()}; date {datetime.now(UTC):%Y-%m-%d}; load average at the end "
         f"{os.getloadavg()[0]:.1f} (other work on the machine inflates the latencies)"),
        f"- command: `{command}`",
        (f"- answer model and judge: {answer_label}" if args.fake else
         f"- answer model: {answer_label}; judge: {judge_label}; temperature 0"),
        (f"- memorize: {args.memorize_mode} mode, one request per session; recall: {args.recall_mode} mode, "
         f"top_k {args.top_k} facts (+ preferences), relativity threshold {args.relativity}, each cube warmed up "
         "by one untimed recall; "
         f"embedding model `{embedder}`; workers {args.workers}"),
        ("- J = share of questions the judge labels CORRECT (percent; overall = over all questions); "
         f"evidence R@{EVIDENCE_K} = share of a question's evidence turns among the top {EVIDENCE_K} distinct turns "
         "the recalled memories come from (fine-mode memories: the turns they were extracted from), as in "
         f"`benchmarks/retrieval.py`; \"R@{EVIDENCE_K} mem\" counts the turns of the top {EVIDENCE_K} memories"),
        "",
    ]
    for d in results:
        rows = d.rows
        limited = f" (of {d.questions_available}; --limit-questions {args.limit_questions})" if args.limit_questions else ""
        lines += [f"## {d.name}: {d.conversations} conversations, {d.turns} turns, {len(rows)} questions{limited}", ""]
        lines += [f"| category | n | J | evidence R@{EVIDENCE_K} | R@{EVIDENCE_K} mem |", "|---|---|---|---|---|"]
        for cat, (n, j) in d.j_by_category().items():
            sel = [r for r in rows if cat == "overall" or r.category == cat]
            r10 = statistics.mean(r.evidence_recall for r in sel)
            r10m = statistics.mean(r.evidence_recall_memories for r in sel)
            label = f"**{cat}**" if cat == "overall" else cat
            lines.append(f"| {label} | {n} | {j:.1f} | {r10:.3f} | {r10m:.3f} |")
        measured = sum(r.tokens_measured for r in rows)
        source = ("the model's usage_metadata" if measured == len(rows) else
                  "estimated (the model reports no usage_metadata): 1 token per CJK character, 1 per 4 other "
                  "characters" if measured == 0 else
                  f"usage_metadata for {measured} of {len(rows)} questions, the rest estimated")
        lines += ["", "| step | p50 ms | p95 ms |", "|---|---|---|",
                  f"| recall | {_ms([r.recall_ms for r in rows])} |",
                  f"| answer (chat model) | {_ms([r.answer_ms for r in rows])} |",
                  f"| judge | {_ms([r.judge_ms for r in rows])} |",
                  f"| memorize, per session request ({args.memorize_mode}) | {_ms(d.memorize_ms)} |", ""]
        lines += ["| tokens per question | mean | p50 | p95 |", "|---|---|---|---|"]
        for label, values in (
            ("recalled memories (context, estimated)", [r.memory_tokens for r in rows]),
            ("answer prompt", [r.answer_prompt_tokens for r in rows]),
            ("answer completion", [r.answer_completion_tokens for r in rows]),
            ("judge prompt + completion", [r.judge_tokens for r in rows]),
        ):
            vals = [float(v) for v in values]
            mean = f"{statistics.mean(vals):.0f}" if vals else "–"
            lines.append(f"| {label} | {mean} | {pct(vals, 50):.0f} | {pct(vals, 95):.0f} |")
        notes = [f"answer / judge tokens: {source}",
                 f"memories recalled per question: {statistics.mean(r.recalled for r in rows):.1f}" if rows else "",
                 f"memorize: {d.memories_stored} memories stored, {d.memorize_llm_calls} chat-model calls"]
        unparsed = sum(not r.judge_parsed for r in rows)
        errors = [r.error for r in rows if r.error]
        no_gold = sum(not r.gold for r in rows)
        if no_gold:
            notes.append(f"{no_gold} question(s) without a gold answer in the data (judged against an empty one)")
        if unparsed:
            notes.append(f"{unparsed} judge answer(s) had no CORRECT/WRONG label (counted WRONG)")
        if errors:
            notes.append(f"{len(errors)} question(s) with a failed model call (counted WRONG), first: {errors[0]}")
        if d.memorize_failures:
            notes.append(f"{len(d.memorize_failures)} session request(s) failed to memorize, first: "
                         f"{d.memorize_failures[0]}")
        lines += ["", *[f"- {n}" for n in notes if n], ""]
    return "\n".join(lines).rstrip() + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=[str(DATA / "locomo_dev"), str(DATA / "zh_memory_dev.json")],
                        help="LoCoMo files/folders and zh-format files (default: ../shared/data dev sets)")
    parser.add_argument("--conversations", default="", help="comma list of conversation ids (e.g. conv_26,c1)")
    parser.add_argument("--limit-questions", type=int, default=0,
                        help="at most N questions per data set, spread over its conversations (0 = all)")
    parser.add_argument("--memorize-mode", choices=("fast", "fine"), default="fast")
    parser.add_argument("--recall-mode", choices=("fast", "fine", "mixture"), default="fast")
    parser.add_argument("--top-k", type=int, default=20, help="fact memories recalled per question (at most 25)")
    parser.add_argument("--relativity", type=float, default=0.0, help="recall's relevance threshold (0 = off)")
    parser.add_argument("--fake", action="store_true", help="deterministic fake model (plumbing only)")
    parser.add_argument("--model-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 (vLLM), "
                                            "http://127.0.0.1:11434/v1 (Ollama); default: CHAT_MODEL_LIST")
    parser.add_argument("--model-name", help="the served model name (with --model-url) or one of CHAT_MODEL_LIST")
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY"), help="default $OPENAI_API_KEY")
    parser.add_argument("--judge-url", help="judge model's base URL (default: the answer model's)")
    parser.add_argument("--judge-name", help="judge model name (default: the answer model)")
    parser.add_argument("--judge-api-key", help="default: --api-key")
    parser.add_argument("--embedder", default="default",
                        help="'default' (the project's model), 'hash', or 'module:callable' returning Embeddings")
    parser.add_argument("--workers", type=int, default=1, help="questions answered at once (latency is measured "
                                                               "under this concurrency)")
    parser.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "memos-bench-cache"))
    parser.add_argument("--weaviate-url", default=None, help="use a running Weaviate instead of the embedded one")
    parser.add_argument("--out", default=None, help="also write the markdown report here")
    parser.add_argument("--details", default=None, help="write every question (answer, label, timings) as JSONL")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if not 1 <= args.top_k <= 25:
        parser.error("--top-k must be 1..25")
    return args


def main(argv: list[str] | None = None, **overrides: Any) -> Report:
    """Command line entry; ``overrides`` go to :func:`run` (``store``, ``answer_model``, ``judge_model``)."""
    args = parse_args(argv)
    report = run(args, **overrides)
    print(report.text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report.text)
    return report


if __name__ == "__main__":
    main()
