"""The benchmark's code path on the seed article with a hash embedder: the report's structure, never timings."""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import pytest

from benchmarks.corpora import (
    MULTIHOP_QUESTIONS,
    SEED_FALLBACK,
    Question,
    Size,
    fingerprint,
    perturb,
    sizes,
    write_subset,
)
from benchmarks.measure import median, percentile, run_child
from benchmarks.report import render
from benchmarks.run import Options, measure_size
from tests.conftest import SEEDS


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([3.0, 1.0, 2.0], 50, 2.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),  # between the two middle values
        ([float(v) for v in range(1, 101)], 95, 95.05),
        ([7.0], 95, 7.0),
    ],
)
def test_percentile(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def test_median_of_nothing_is_nan() -> None:
    assert median([]) != median([])


def test_perturb_keeps_layout_and_is_seeded() -> None:
    text = "Ferries sailed at dawn.\n\nThe harbour reopened on Monday after the storm."
    one = perturb(text, ["alpha", "beta"], random.Random(1), rate=0.5)
    two = perturb(text, ["alpha", "beta"], random.Random(1), rate=0.5)
    assert one == two != text
    assert one.count("\n\n") == 1
    assert len(one.split()) == len(text.split())


def test_fingerprint_follows_the_source(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"title": "a", "text": "b"}\n')
    before = fingerprint(corpus)
    corpus.write_text('{"title": "a", "text": "changed"}\n')
    assert fingerprint(corpus) != before
    assert fingerprint(corpus, "synthetic=10") != fingerprint(corpus)


def test_write_subset_keeps_the_first_lines(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(f'{{"n": {i}}}\n' for i in range(5)))
    subset = write_subset(corpus, 2, tmp_path / "out" / "subset.jsonl")
    assert subset.read_text() == '{"n": 0}\n{"n": 1}\n'


def test_absent_data_skips_a_size(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import benchmarks.corpora as corpora

    monkeypatch.setattr(corpora, "MULTIHOP", tmp_path / "absent.jsonl")
    monkeypatch.setattr(corpora, "SEED_QUESTIONS", tmp_path / "absent-questions.jsonl")
    found = list(sizes(["seed", "609", "100k"], 5, 1000))
    assert [s.name for s in found] == ["seed"]
    assert [q.text for q in found[0].questions] == SEED_FALLBACK


def test_child_result_is_its_last_json_line() -> None:
    run = run_child([sys.executable, "-c", "import json; print('working'); print(json.dumps({'chunks': 3}))"])
    assert run.result == {"chunks": 3}
    assert run.peak_rss_mb > 1


def test_time_to_first_line() -> None:
    code = "print('first', flush=True); import time; time.sleep(0.3); print('second')"
    run = run_child([sys.executable, "-c", code], first_line=True)
    assert (run.first_line, run.result) == ("first", None)
    assert run.first_line_seconds is not None and run.first_line_seconds < run.seconds


def test_the_banner_of_a_run_on_a_loaded_machine() -> None:
    header = {
        "command": "python -m benchmarks",
        "date": "today",
        "minutes": 1.0,
        "machine": {"cpu": "cpu", "cores": "2", "memory": "1 GB", "os": "os", "load": "1.5 / 1.0 / 1.0"},
        "load_end": "1.0 / 1.0 / 1.0",
        "versions": {"python": "3"},
        "caveat": "any text the run wrote",
    }
    banner = [line for line in render([], header).splitlines() if line.startswith("> ")]
    assert banner == [
        "> **Measured on a shared 2-core machine: absolute times are inflated and noisy; the ratios, each measured "
        "beside its reference in the same run, are the figures to read.**"
    ]
    assert "> " not in render([], {**header, "caveat": ""})


SEED_QUESTIONS = (Question("What did Dedov say about Oman?"), Question("When did he serve there?", ("Who is Dedov?",)))


@pytest.mark.slow
def test_report_of_a_fake_run(tmp_path: Path) -> None:
    opts = Options(cache_dir=tmp_path, repeats=1, passes=1, parts=frozenset({"ingest", "latency"}), fake=True)
    seed, seed_index = measure_size(Size("seed", "the seed article", SEEDS, SEED_QUESTIONS), opts, None)
    big = Size("100k", "40 chunks (synthesised)", SEEDS, SEED_QUESTIONS, synthetic_chunks=40)
    synthetic, _ = measure_size(big, opts, seed_index)
    header = {
        "command": "python -m benchmarks --fake-model",
        "date": "today",
        "minutes": 1.0,
        "machine": {"cpu": "cpu", "cores": "2", "memory": "1 GB", "os": "os", "load": "0.0 / 0.0 / 0.0"},
        "load_end": "0.0 / 0.0 / 0.0",
        "versions": {"python": "3"},
        "caveat": "",
    }
    report = render([seed, synthetic], header)
    headings = re.findall(r"^## .*$", report, flags=re.MULTILINE)
    assert headings == [
        "## Machine",
        "## Targets",
        "## the seed article (10 chunks indexed)",
        "## 40 chunks (synthesised) (40 chunks indexed)",
        "## How it is measured",
    ]
    rows = [line.split("|")[1].strip() for line in report.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows == [
        "",  # the ingest table's header row
        "newsbot ingest, files → persisted index",
        "newsbot's embedding engine alone (`encode`)",
        "plain LangChain ingest",
        "",  # the seed's latency table header
        "newsbot `ask` (cache off)",
        "floor: embed the question alone, sentence-transformers `model.encode`",
        "floor: embed the question alone, newsbot's engine",
        "plain LangChain `similarity_search(k=5)`",
        "newsbot, repeated question (answer cache hit)",
        "",  # the synthetic size has no ingest table: latency only
        "newsbot `ask` (cache off)",
        "floor: embed the question alone, sentence-transformers `model.encode`",
        "floor: embed the question alone, newsbot's engine",
        "plain LangChain `similarity_search(k=5)`",
        "newsbot, repeated question (answer cache hit)",
    ]
    assert (seed["ingest"]["chunks"], seed["ingest"]["articles"], seed["latency"]["questions"]) == (10, 1, 2)
    assert synthetic["index_chunks"] == 40
    assert all(t > 0 for t in seed["latency"]["newsbot_ready_s"] + synthetic["latency"]["newsbot_ready_s"])
    assert all(t > 0 for t in seed["latency"]["newsbot_first_ms"] + synthetic["latency"]["newsbot_first_ms"])
    assert "ingest" not in synthetic
    assert all(v > 0 for v in seed["ingest"]["runs"]["newsbot"] + seed["latency"]["newsbot"]["answer"]["p95"])
    assert re.search(r"- p95 [\d.]+ ms \(target ≤ 60 ms\) [✅❌]", report)
    marks = [line[2] for line in report.splitlines() if line.startswith(("- ✅", "- ❌"))]
    assert len(marks) == 5  # seed: ingest, floor, plain; synthetic: p95, plain (no cold start measured)


def test_cold_table_shows_the_bm25_build_and_load() -> None:
    from benchmarks.report import cold_table

    cold = {
        "newsbot": [1.5, 1.0, 2.0],
        "plain": [4.0, 4.0, 4.0],
        "newsbot_rss_mb": [300.0],
        "plain_rss_mb": [600.0],
        "bm25_build_s": [3.0, 2.0, 4.0],
        "bm25_load_s": [0.2, 0.1, 0.3],
        "bm25_add_s": [0.5, 0.4, 0.6],
    }
    rows = [line for line in cold_table(cold, None, "609") if line.startswith("| ") and "---" not in line][1:]
    assert rows == [
        "| cold start | **1.50** (1.50, 1.00, 2.00) | 4.00 (4.00, 4.00, 4.00) | 0.38 | ≤ plain and < 6 s ✅ |",
        "| peak RSS of that process (MB) | **300** | 600 | 0.50 | ≤ 800 MB ✅ |",
        "| BM25 index built from every row in SQLite (a first ingest, or a file of an older newsbot) (s) "
        "| 3.00 (3.00, 2.00, 4.00) | | | — |",
        "| BM25 index loaded from its saved file (every later process; part of the cold start above) (s) "
        "| 0.20 (0.20, 0.10, 0.30) | | | — |",
        "| BM25 index after one more article (what an ingest of it pays: the last state's file plus the rows it "
        "added) (s) | 0.50 (0.50, 0.40, 0.60) | | | — |",
    ]


def test_cold_table_shows_the_serving_processes_start_up_and_memory() -> None:
    from benchmarks.report import cold_table

    cold = {"newsbot": [1.0], "plain": [4.0], "newsbot_rss_mb": [300.0], "plain_rss_mb": [600.0]}
    lat = {"newsbot_rss_mb": [350.0, 360.0], "newsbot_ready_s": [2.5, 2.0, 3.0], "newsbot_first_ms": [40.0, 900.0, 35]}
    rows = [line for line in cold_table(cold, lat, "100k") if line.startswith("| ") and "---" not in line][3:]
    assert rows == [
        "| peak RSS of the warm-latency process, every question answered (MB) | 360 | | | |",
        "| serving start-up of that process: model, BM25 and vector indexes and chunks loaded, before its first "
        "question (s) | 2.50 (2.50, 2.00, 3.00) | | | — |",
        "| its first question, answered after that start-up (ms; the rest of that process's questions come after "
        "three such) | 40 (40, 900, 35) | | | — |",
    ]


def test_bm25_worker_builds_then_loads(seeded_copy: Path) -> None:
    from benchmarks.measure import run_worker

    (seeded_copy / "index.bm25.npz").unlink(missing_ok=True)
    built = run_worker("bm25", data_dir=str(seeded_copy), build=True).result
    loaded = run_worker("bm25", data_dir=str(seeded_copy), build=False).result
    assert (built["saved"], loaded["saved"]) == (True, True)
    assert (seeded_copy / "index.bm25.npz").is_file()
    before = (seeded_copy / "index.sqlite3").read_bytes(), (seeded_copy / "index.bm25.npz").read_bytes()
    added = run_worker("bm25", data_dir=str(seeded_copy), build=False, add=True).result
    assert added["saved"] and added["seconds"] > 0
    after = (seeded_copy / "index.sqlite3").read_bytes(), (seeded_copy / "index.bm25.npz").read_bytes()
    assert after == before  # on a copy: the index measured is left as it was


def test_bm25_check_agrees_with_fts5(seeded_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from benchmarks.bm25_check import main

    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        "".join(json.dumps({"question": q}) + "\n" for q in ["What did Dedov say about Oman?", "Who is Dedov?"])
    )
    main([str(seeded_copy), "--questions", "5", "--questions-file", str(questions)])
    result = json.loads(capsys.readouterr().out)
    assert (result["questions"], result["differ"]) == (2, 0)


def test_warm_stages_without_an_index_is_one_clear_line(tmp_path: Path) -> None:
    from benchmarks import warm

    with pytest.raises(SystemExit, match=r"no index at .* ingest"):
        warm.main([str(tmp_path)])


@pytest.mark.slow
@pytest.mark.skipif(not MULTIHOP_QUESTIONS.is_file(), reason="needs ../shared/eval/multihop_rag/questions.jsonl")
def test_warm_stages_on_the_seed_index(seeded_data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import warm

    assert warm.main([str(seeded_data_dir), "--questions", "4", "--passes", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"pass 1: answer p50 [\d.]+ p95 [\d.]+ ms \| query embedding p50 [\d.]+ p95 [\d.]+ ms", out[0])
    assert out[1].startswith("  stage medians (ms): embed ") and "answer" in out[1]


def test_topic_calibration_precision_recall() -> None:
    from benchmarks.topics import PAIRS, prf

    scores = [(0.9, 1), (0.7, 1), (0.65, 0), (0.3, 0), (0.5, 1)]
    assert prf(scores, 0.6) == (2 / 3, 2 / 3, 2 / 3)
    assert prf(scores, 0.95) == (1.0, 0.0, 0.0)
    labels = [line for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(labels) >= 100 and any('"label": 1' in line for line in labels)
