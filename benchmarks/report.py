"""docs/benchmarks.md from the measurements: each figure beside its reference and its target."""

from __future__ import annotations

from typing import Any

from benchmarks.measure import median

INGEST_RATIO = 0.9
EMBED_FACTOR = 2.0
P95_100K_MS = 60.0
COLD_S = 6.0
RSS_MB = 800.0


def shared_machine(cores: str) -> str:
    """The banner of a run on a machine that other work was loading when the run began."""
    return (
        f"Measured on a shared {cores}-core machine: absolute times are inflated and noisy; the ratios, each "
        "measured beside its reference in the same run, are the figures to read."
    )


METHOD = """\
## How it is measured

- Every measurement runs in a fresh child process (`benchmarks/workers.py`), so imports, thread pools
  and peak memory of one do not leak into the next; medians are over `--repeats` such runs.
- **Ingest**: `Pipeline.ingest` from the corpus file (the first `--ingest-articles` articles) to a new
  persisted index (Chroma + SQLite), with the model loaded beforehand. The reference is
  sentence-transformers' `model.encode(texts, batch_size=32)` on exactly the texts newsbot embedded
  (title + chunk), in the next process; the ratio is taken run by run. The plain pipeline
  (`RecursiveCharacterTextSplitter(700, 100)` + `HuggingFaceEmbeddings` + `Chroma.add_documents`) is
  measured the same way against `model.encode` on its own chunks.
- **Warm answer latency**: `Pipeline.ask` (answer cache off) for each question, inside `serving` (as the
  REPL and the Telegram bot answer) and after three warm-up questions, the first of which is timed on its
  own (what the first user after a start waits); `--passes` passes per process; p50/p95 per process, medians
  over processes. The floor is
  the time to embed the question alone: with sentence-transformers' `model.encode` (through
  `HuggingFaceEmbeddings.embed_query`, in the plain pipeline's process) and with newsbot's own engine.
  The plain pipeline's figure is `similarity_search(q, k=5)` on a store holding the same chunks and
  vectors as newsbot's index (loaded from it, not re-embedded). "Cache hit" is a repeated question.
- **Cold start**: wall time from spawning the process to the first line of the answer on its stdout,
  `newsbot --data-dir D ask Q` against `python -m benchmarks.plain D Q`, interleaved, page cache warm
  (one untimed run of each first). **Peak RSS** is the kernel's `ru_maxrss` of those processes.
- **BM25 index**: `LexicalIndex.refresh()` in a fresh process on a copy of the index, once with its
  saved file (`index.bm25.npz`) removed, so it is built from every row SQLite holds (what a first ingest
  pays at its end), once with the file present (what every later process pays on its first question),
  and once on a copy of the registry and the file with one more article's rows written (what an ingest of
  one article pays: the last state's file plus the rows it added).
- The 609-article and 100k indexes are built once and reused (`--cache-dir`); the 100k chunks are the
  609 articles plus perturbed copies (see `benchmarks/corpora.py`), loaded through newsbot's own
  `ChromaStore` and `LexicalIndex`; that size measures retrieval and answering, not ingest.
"""


def _mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def _runs(values: list[float], digits: int = 1) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def _ratio_runs(a: list[float], b: list[float]) -> list[float]:
    return [x / y for x, y in zip(a, b, strict=True) if y]


def ingest_table(ing: dict[str, Any]) -> list[str]:
    """The ingest throughput table."""
    runs = ing["runs"]
    ratio = median(_ratio_runs(runs["newsbot"], runs["reference"]))
    plain_ratio = median(_ratio_runs(runs["plain"], runs["plain_reference"]))
    lines = [
        f"**Ingest throughput** — first {ing['articles']} article(s): {ing['chunks']:,} newsbot chunks, "
        f"{ing['plain_chunks']:,} plain chunks (chunks/s, median of {len(runs['newsbot'])} runs; runs in brackets)",
        "",
        "| | chunks/s | reference: `model.encode` on the same texts | ratio | target |",
        "|---|---|---|---|---|",
        f"| newsbot ingest, files → persisted index | {median(runs['newsbot']):.1f} ({_runs(runs['newsbot'])}) "
        f"| {median(runs['reference']):.1f} ({_runs(runs['reference'])}) | **{ratio:.2f}** "
        f"| ≥ {INGEST_RATIO} {_mark(ratio >= INGEST_RATIO)} |",
    ]
    if runs.get("engine"):
        own = median(_ratio_runs(runs["engine"], runs["reference"]))
        lines.append(
            f"| newsbot's embedding engine alone (`encode`) | {median(runs['engine']):.1f} ({_runs(runs['engine'])}) "
            f"| {median(runs['reference']):.1f} | {own:.2f} | — |"
        )
    lines.append(
        f"| plain LangChain ingest | {median(runs['plain']):.1f} ({_runs(runs['plain'])}) "
        f"| {median(runs['plain_reference']):.1f} ({_runs(runs['plain_reference'])}) | {plain_ratio:.2f} | — |"
    )
    return lines


def _p(block: dict[str, list[float]]) -> tuple[float, float]:
    return median(block["p50"]), median(block["p95"])


def latency_table(lat: dict[str, Any], size: str) -> list[str]:
    """The warm latency table and its targets."""
    mine, plain = lat["newsbot"], lat["plain"]
    a50, a95 = _p(mine["answer"])
    e50, e95 = _p(plain["embed"])
    o50, o95 = _p(mine["embed"])
    c50, c95 = _p(mine["cached"])
    l50, l95 = _p(plain["answer"])
    runs = len(mine["answer"]["p50"])
    lines = [
        f"**Warm answer latency** — {lat['questions']} questions per pass, medians of {runs} processes "
        f"(ms; per-process p95 in brackets); newsbot refused {lat['refused']} of them",
        "",
        "| | p50 | p95 |",
        "|---|---|---|",
        f"| newsbot `ask` (cache off) | **{a50:.1f}** | **{a95:.1f}** ({_runs(mine['answer']['p95'])}) |",
        f"| floor: embed the question alone, sentence-transformers `model.encode` | {e50:.1f} | {e95:.1f} |",
        f"| floor: embed the question alone, newsbot's engine | {o50:.1f} | {o95:.1f} |",
        f"| plain LangChain `similarity_search(k=5)` | {l50:.1f} | {l95:.1f} ({_runs(plain['answer']['p95'])}) |",
        f"| newsbot, repeated question (answer cache hit) | {c50:.2f} | {c95:.2f} |",
        "",
    ]
    ratio = a95 / e95 if e95 else float("nan")
    if size != "100k":
        lines.append(
            f"- p95 against the query-embedding floor (sentence-transformers): {a95:.1f} / {e95:.1f} = "
            f"**{ratio:.2f}×** (target ≤ {EMBED_FACTOR:.0f}×) {_mark(ratio <= EMBED_FACTOR)}; "
            f"against newsbot's own engine: {a95 / o95 if o95 else float('nan'):.2f}×; at p50: "
            f"{a50 / e50 if e50 else float('nan'):.2f}× and {a50 / o50 if o50 else float('nan'):.2f}×"
        )
    else:
        lines.append(f"- p95 {a95:.1f} ms (target ≤ {P95_100K_MS:.0f} ms) {_mark(a95 <= P95_100K_MS)}")
    ok = a50 <= l50 and a95 <= l95
    lines.append(
        f"- against the plain pipeline: p50 {a50 / l50 if l50 else float('nan'):.2f}×, p95 "
        f"{a95 / l95 if l95 else float('nan'):.2f}× (target ≤ 1×) {_mark(ok)}"
    )
    return lines


def cold_table(cold: dict[str, Any], lat: dict[str, Any] | None, size: str) -> list[str]:
    """Cold start and peak memory."""
    mine, plain = median(cold["newsbot"]), median(cold["plain"])
    rss, plain_rss = max(cold["newsbot_rss_mb"]), max(cold["plain_rss_mb"])
    rss_target = f"≤ {RSS_MB:.0f} MB {_mark(rss <= RSS_MB)}" if size == "609" else "—"
    lines = [
        f"**Cold start** — process start → first answer line printed (s, median of {len(cold['newsbot'])} runs)",
        "",
        "| | newsbot `ask` | plain LangChain | ratio | target |",
        "|---|---|---|---|---|",
        f"| cold start | **{mine:.2f}** ({_runs(cold['newsbot'], 2)}) | {plain:.2f} ({_runs(cold['plain'], 2)}) "
        f"| {mine / plain:.2f} | ≤ plain and < {COLD_S:.0f} s {_mark(mine <= plain and mine < COLD_S)} |",
        f"| peak RSS of that process (MB) | **{rss:.0f}** | {plain_rss:.0f} | {rss / plain_rss:.2f} | {rss_target} |",
    ]
    if lat:
        warm_rss = max(lat["newsbot_rss_mb"])
        lines.append(f"| peak RSS of the warm-latency process, every question answered (MB) | {warm_rss:.0f} | | | |")
        if lat.get("newsbot_ready_s"):  # absent from a report of an older run
            ready = lat["newsbot_ready_s"]
            lines.append(
                "| serving start-up of that process: model, BM25 and vector indexes and chunks loaded, before its "
                f"first question (s) | {median(ready):.2f} ({_runs(ready, 2)}) | | | — |"
            )
        if lat.get("newsbot_first_ms"):  # absent from a report of an older run
            first = lat["newsbot_first_ms"]
            lines.append(
                f"| its first question, answered after that start-up (ms; the rest of that process's questions "
                f"come after three such) | {median(first):.0f} ({_runs(first, 0)}) | | | — |"
            )
    if cold.get("bm25_build_s"):
        build, load = median(cold["bm25_build_s"]), median(cold["bm25_load_s"])
        lines += [
            f"| BM25 index built from every row in SQLite (a first ingest, or a file of an older newsbot) (s) "
            f"| {build:.2f} ({_runs(cold['bm25_build_s'], 2)}) | | | — |",
            f"| BM25 index loaded from its saved file (every later process; part of the cold start above) (s) "
            f"| {load:.2f} ({_runs(cold['bm25_load_s'], 2)}) | | | — |",
        ]
    if cold.get("bm25_add_s"):  # absent from a report of an older run
        add = cold["bm25_add_s"]
        lines.append(
            f"| BM25 index after one more article (what an ingest of it pays: the last state's file plus the "
            f"rows it added) (s) | {median(add):.2f} ({_runs(add, 2)}) | | | — |"
        )
    return lines


def targets(results: list[dict[str, Any]]) -> list[str]:
    """One line per target: met or missed, and by how much."""
    lines = []

    def line(ok: bool, text: str) -> None:
        lines.append(f"- {_mark(ok)} {text}")

    for r in results:
        name = r["label"]
        if "ingest" in r:
            runs = r["ingest"]["runs"]
            ratio = median(_ratio_runs(runs["newsbot"], runs["reference"]))
            line(ratio >= INGEST_RATIO, f"{name}: ingest {ratio:.2f}× raw `model.encode` (target ≥ {INGEST_RATIO})")
        if "latency" in r:
            a50, a95 = _p(r["latency"]["newsbot"]["answer"])
            l50, l95 = _p(r["latency"]["plain"]["answer"])
            e95 = _p(r["latency"]["plain"]["embed"])[1]
            if r["name"] == "100k":
                line(a95 <= P95_100K_MS, f"{name}: warm p95 {a95:.0f} ms (target ≤ {P95_100K_MS:.0f} ms)")
            else:
                line(a95 <= EMBED_FACTOR * e95, f"{name}: warm p95 {a95 / e95:.2f}× the query embedding (target ≤ 2×)")
            line(
                a50 <= l50 and a95 <= l95,
                f"{name}: warm p50/p95 {a50 / l50:.2f}× / {a95 / l95:.2f}× the plain pipeline's (target ≤ 1×)",
            )
        if "cold" in r:
            mine, plain = median(r["cold"]["newsbot"]), median(r["cold"]["plain"])
            line(
                mine <= plain and mine < COLD_S,
                f"{name}: cold start {mine:.2f} s, plain {plain:.2f} s (≤ plain, < 6 s)",
            )
            if r["name"] == "609":
                rss = max(r["cold"]["newsbot_rss_mb"] + r.get("latency", {}).get("newsbot_rss_mb", []))
                line(rss <= RSS_MB, f"{name}: peak RSS {rss:.0f} MB (target ≤ {RSS_MB:.0f} MB)")
    return lines


def render(results: list[dict[str, Any]], header: dict[str, Any]) -> str:
    """The whole report."""
    out = [
        "# Benchmarks",
        "",
        f"Written by `{header['command']}` on {header['date']} ({header['minutes']:.0f} minutes). "
        "Regenerate with `python -m benchmarks` (`--help` for quick runs).",
        "",
    ]
    machine = header["machine"]
    if header.get("caveat"):  # the run began on a loaded machine: the banner says so, in the report's own words
        out += [f"> **{shared_machine(machine['cores'])}**", ""]
    out += [
        "## Machine",
        "",
        f"{machine['cpu']}, {machine['cores']} cores, {machine['memory']}, {machine['os']}. "
        f"Load average (1/5/15 min) at the start: {machine['load']}; at the end: {header['load_end']}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in header["versions"].items()) + ".",
        "",
    ]
    out += [
        "## Targets",
        "",
        *targets(results),
        "",
        "Where a target is missed, docs/performance.md has the profile that says why.",
        "",
    ]
    for r in results:
        out += [f"## {r['label']} ({r['index_chunks']:,} chunks indexed)", ""]
        if "ingest" in r:
            out += [*ingest_table(r["ingest"]), ""]
        if "latency" in r:
            out += [*latency_table(r["latency"], r["name"]), ""]
        if "cold" in r:
            out += [*cold_table(r["cold"], r.get("latency"), r["name"]), ""]
    out.append(METHOD)
    return "\n".join(out)
