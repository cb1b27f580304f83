"""The end-to-end answer-quality benchmark (``benchmarks/answer_quality.py``) on a small LoCoMo-format
conversation, over the real embedded Weaviate. Only the chat model is fake: the benchmark's own
deterministic fake (oracle judge), a scripted LangChain fake answerer, or the OpenAI-compatible stub
server of ``conftest.py`` reached through ``--model-url`` (the path a real vLLM / Ollama takes)."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from memos_integrations.storage.store import MemoryStore

ROOT = Path(__file__).resolve().parents[1]


def _load_benchmark() -> Any:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("answer_quality", ROOT / "benchmarks" / "answer_quality.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["answer_quality"] = module
    spec.loader.exec_module(module)
    return module


aq = _load_benchmark()

# One LoCoMo-format conversation (the published layout: session_N, session_N_date_time, qa with
# category 1-5); every gold answer is said verbatim in one turn.
SESSIONS = {
    "session_1": ("1:56 pm on 8 May, 2023", [
        ("Caroline", "I went to the LGBTQ support group yesterday and it was so powerful."),
        ("Melanie", "That's great! I painted a sunrise over the lake last weekend."),
        ("Caroline", "I am researching adoption agencies because I want to build a family."),
        ("Melanie", "My kids love pottery, we made bowls together."),
    ]),
    "session_2": ("4:04 pm on 20 May, 2023", [
        ("Caroline", "I started a counseling certification course this week."),
        ("Melanie", "I ran a charity race for mental health on Saturday."),
        ("Caroline", "My friend Jolene gave me a necklace from Sweden, my home country."),
        ("Melanie", "We are going camping at the beach in June."),
    ]),
}
QA = [  # (question, answer, evidence, category)
    ("What did Caroline research?", "adoption agencies", ["D1:3"], 1),
    ("Where is Caroline's necklace from?", "Sweden", ["D2:3"], 1),
    ("When did Melanie run the charity race?", "Saturday", ["D2:2"], 2),
    ("When did Caroline go to the LGBTQ support group?", "7 May 2023", ["D1:1"], 2),
    ("What might Caroline pursue as a career?", "counseling", ["D2:1"], 3),
    ("What did Melanie paint?", "a sunrise", ["D1:2"], 4),
    ("What do Melanie's kids love?", "pottery", ["D1:4"], 4),
    ("Where are Melanie and her family going camping?", "the beach", ["D2:4"], 4),
    ("What did Caroline realize after the race?", "", ["D2:2"], 5),  # adversarial: never asked
]
# The scripted answerer gets these right (gold answer) and says "I don't know" to the others.
ANSWERED = {"What did Caroline research?", "When did Melanie run the charity race?",
            "When did Caroline go to the LGBTQ support group?", "What did Melanie paint?",
            "What do Melanie's kids love?"}
EXPECTED_J = {"multi_hop": (2, 50.0), "temporal": (2, 100.0), "open_domain": (1, 0.0), "single_hop": (3, 66.7),
              "overall": (8, 62.5)}


def write_conversation(folder: Path) -> Path:
    data: dict[str, Any] = {"speaker_a": "Caroline", "speaker_b": "Melanie", "qa": []}
    for n, (name, (when, turns)) in enumerate(SESSIONS.items(), 1):
        data[name] = [{"speaker": s, "dia_id": f"D{n}:{i}", "text": t} for i, (s, t) in enumerate(turns, 1)]
        data[f"{name}_date_time"] = when
    for question, answer, evidence, category in QA:
        item: dict[str, Any] = {"question": question, "evidence": evidence, "category": category}
        item["answer" if category != 5 else "adversarial_answer"] = answer or "self-care"
        data["qa"].append(item)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "conv_t1.json"
    path.write_text(json.dumps(data))
    return path


class ScriptedAnswerer(BaseChatModel):
    """Fake answer model: the gold answer for the questions in ``ANSWERED``, else "I don't know"."""

    @property
    def _llm_type(self) -> str:
        return "scripted-fake-answerer"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        prompt = str(messages[-1].content)
        question = prompt.rsplit("Question: ", 1)[-1].split("\n", 1)[0]
        gold = {q: a for q, a, _, _ in QA}
        text = f"It was {gold[question]}." if question in ANSWERED else "I don't know."
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


@pytest.fixture(scope="module")
def bench_store(weaviate_client: Any) -> Iterator[MemoryStore]:
    store = MemoryStore(weaviate_client, prefix="AnswerQ")
    store.setup()
    yield store


def test_answer_quality_fake_model_oracle_judge_gives_exact_j_per_category(
        bench_store: MemoryStore, tmp_path: Path) -> None:
    data = write_conversation(tmp_path / "locomo")
    out, details = tmp_path / "answer_quality.md", tmp_path / "rows.jsonl"
    report = aq.main(["--fake", "--data", str(data.parent), "--embedder", "hash", "--quiet",
                      "--out", str(out), "--details", str(details)],
                     store=bench_store, answer_model=ScriptedAnswerer())

    text = out.read_text()
    assert text == report.text
    assert "Fake model: plumbing only" in text
    assert "| category | n | J | evidence R@10 | R@10 mem |" in text
    (dataset,) = report.datasets
    assert dataset.conversations == 1 and dataset.turns == 8 and len(dataset.rows) == 8  # category 5 skipped
    got = {cat: (n, round(j, 1)) for cat, (n, j) in dataset.j_by_category().items()}
    assert got == EXPECTED_J
    for cat, (n, j) in EXPECTED_J.items():
        label = f"**{cat}**" if cat == "overall" else cat
        assert f"| {label} | {n} | {j:.1f} | " in text

    rows = [json.loads(line) for line in details.read_text().splitlines()]
    assert len(rows) == 8
    for row in rows:
        # the oracle judge: CORRECT exactly when the generated answer contains the gold answer
        assert row["correct"] == aq.answer_contains_gold(row["answer"], row["gold"])
        assert row["correct"] == (row["question"] in ANSWERED)
        assert row["judge_parsed"] and row["error"] is None
        assert 0.0 <= row["evidence_recall"] <= 1.0 and row["recalled"] > 0
        assert row["recall_ms"] > 0 and row["answer_prompt_tokens"] > row["memory_tokens"] > 0
    assert sum(r["evidence_recall"] for r in rows) / len(rows) > 0.5  # 8 turns, top 10: nearly all found
    for step in ("| recall |", "| answer (chat model) |", "| judge |", "| memorize, per session request (fast) |"):
        assert step in text
    assert "estimated (the model reports no usage_metadata)" in text


def test_answer_quality_fake_model_fine_memorize_and_recall(bench_store: MemoryStore, tmp_path: Path) -> None:
    """--memorize-mode fine with the built-in fake model: extraction + reconciliation run, the extracted
    memories map back to their turns (evidence recall), the oracle judge stays consistent."""
    data = write_conversation(tmp_path / "locomo")
    report = aq.main(["--fake", "--data", str(data), "--embedder", "hash", "--quiet", "--memorize-mode", "fine",
                      "--recall-mode", "fine", "--limit-questions", "4"], store=bench_store)
    (dataset,) = report.datasets
    assert len(dataset.rows) == 4 and not dataset.memorize_failures
    assert dataset.memorize_llm_calls >= 2 and dataset.memories_stored == 8  # one fact per turn (fake extraction)
    assert {r.category for r in dataset.rows} >= {"multi_hop", "single_hop"}  # spread over the categories
    assert sum(r.evidence_recall for r in dataset.rows) / 4 > 0.5
    for row in dataset.rows:
        assert row.correct == aq.answer_contains_gold(row.answer, row.gold)
    assert "memorize, per session request (fine)" in report.text and "recall: fine mode" in report.text


def test_answer_quality_through_openai_compatible_stub_fake_llm(
        bench_store: MemoryStore, llm_stub: Any, tmp_path: Path) -> None:
    """--model-url / --model-name / --api-key against the OpenAI-compatible stub (a fake LLM over HTTP):
    fine memorize, answers (``<think>`` stripped), the judge's JSON label, tokens from usage_metadata."""
    data = write_conversation(tmp_path / "locomo")
    before = list(llm_stub.script)
    llm_stub.script.append(("memory extractor of a long-term memory system", json.dumps(
        {"summary": "s", "facts": [{"key": "", "value": "Caroline researched adoption agencies",
                                    "message_indexes": [2]}]})))
    llm_stub.script.append(("NEW memories:", '{"facts": [], "relations": []}'))
    llm_stub.script.append((aq.JUDGE_MARKER, 'The answer matches the gold one. {"label": "CORRECT"}'))
    seen = len(llm_stub.requests)
    try:
        report = aq.main(["--model-url", f"{llm_stub.url}/v1", "--model-name", "stub-model", "--api-key", "stub",
                          "--data", str(data), "--embedder", "hash", "--quiet", "--memorize-mode", "fine",
                          "--limit-questions", "3"], store=bench_store)
    finally:
        llm_stub.script[:] = before
    (dataset,) = report.datasets
    assert not dataset.memorize_failures and dataset.memorize_llm_calls >= 2
    assert [r.correct for r in dataset.rows] == [True, True, True]
    assert all(r.answer.startswith("Stub answer to:") for r in dataset.rows)  # <think> block removed
    assert all(r.tokens_measured and r.answer_prompt_tokens == 1 for r in dataset.rows)
    assert "| **overall** | 3 | 100.0 |" in report.text and "the model's usage_metadata" in report.text
    assert "Fake model" not in report.text and f"`stub-model` at {llm_stub.url}/v1" in report.text
    bodies = llm_stub.requests[seen:]
    assert {b["model"] for b in bodies} == {"stub-model"}
    assert sum(aq.ANSWER_MARKER in b["messages"][-1]["content"] for b in bodies) == 3
    assert any(b.get("temperature") == 0 for b in bodies)
