"""Reliability measurements for docs/reliability.md: `python -m benchmarks.reliability COMMAND`.

  kills        kill -9 an ingest, and a removal, at random moments; run each again; compare with a clean run
  determinism  the same questions in several fresh `newsbot ask --jsonl` processes, compared byte for byte
  memory       one process answering many questions: its RSS as it goes
  outage       a Chroma server stopped and started again under a stream of `ask --jsonl` questions
  repair       the vectors of an index deleted; `newsbot check --repair` restores them

Each prints what it measured, ending with one line for the table. Real processes, the real model; data dirs
under --work (default /tmp/newsbot-reliability), removed before each run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"
MULTIHOP = EVAL / "multihop_rag" / "corpus.jsonl"
QUESTIONS = EVAL / "multihop_rag" / "questions.jsonl"


def newsbot(*args: str, **kw: Any) -> subprocess.Popen[str]:
    """`newsbot ARGS` as a child process (stdout and stderr piped)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def finish(*args: str) -> str:
    """Run `newsbot ARGS` to its end; its stdout (SystemExit when it fails)."""
    proc = newsbot(*args)
    out, err = proc.communicate(timeout=1800)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"newsbot {' '.join(args)} failed ({proc.returncode}): {err[-2000:]}")
    return out


def corpus(path: Path, count: int, first: int = 0, paragraphs: int = 6) -> Path:
    """`count` MultiHop-RAG articles from record `first` on, their first `paragraphs` only (a quick ingest), as
    JSONL."""
    with MULTIHOP.open(encoding="utf-8") as f, path.open("w", encoding="utf-8") as out:
        for line in list(f)[first : first + count]:
            record = json.loads(line)
            record["text"] = "\n\n".join(record["text"].split("\n\n")[:paragraphs])
            out.write(json.dumps(record) + "\n")
    return path


def state(data: Path) -> dict[str, Any]:
    """What an index holds: its articles (with content hashes), chunk ids, and what `newsbot check` says."""
    import sqlite3

    db = sqlite3.connect(data / "index.sqlite3")
    try:
        articles = sorted(db.execute("SELECT doc_id, content_hash FROM articles"))
        chunks = sorted(r[0] for r in db.execute("SELECT chunk_id FROM chunks"))
    finally:
        db.close()
    check = finish("--data-dir", str(data), "check", "--sample", "1000000")
    return {"articles": articles, "chunks": chunks, "check": check}


def kill_at(args: list[str], after: float) -> None:
    """Start `newsbot ARGS` and SIGKILL it `after` seconds later (if it is still running)."""
    proc = newsbot(*args)
    try:
        proc.wait(timeout=after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)


def cmd_kills(opts: argparse.Namespace) -> None:
    """Kill -9 ingests and removals at random moments; after a re-run, compare with a clean run."""
    work = opts.work
    source = corpus(work / "corpus.jsonl", opts.articles)
    clean = work / "clean"
    started = time.perf_counter()
    finish("--data-dir", str(clean), "ingest", "--quiet", str(source))
    ingest_seconds = time.perf_counter() - started
    want = state(clean)
    doc_ids = [d for d, _ in want["articles"]]
    gone = doc_ids[: len(doc_ids) // 2]
    started = time.perf_counter()
    finish("--data-dir", str(clean), "remove", *gone)
    remove_seconds = time.perf_counter() - started
    want_after_remove = state(clean)
    rng = random.Random(opts.seed)
    bad: dict[str, list[tuple[int, float, str]]] = {"ingest": [], "remove": []}
    for n in range(opts.rounds):
        data = work / f"round{n}"
        shutil.rmtree(data, ignore_errors=True)
        moment = rng.uniform(0.2, ingest_seconds)
        kill_at(["--data-dir", str(data), "ingest", "--quiet", str(source)], moment)
        finish("--data-dir", str(data), "ingest", "--quiet", str(source))
        got = state(data)
        if got != want:
            bad["ingest"].append((n, moment, diff(want, got)))
        moment = rng.uniform(0.2, remove_seconds)
        kill_at(["--data-dir", str(data), "remove", *gone], moment)
        finish("--data-dir", str(data), "remove", *gone)
        got = state(data)
        if got != want_after_remove:
            bad["remove"].append((n, moment, diff(want_after_remove, got)))
        print(
            f"round {n + 1}: killed the ingest and the removal; differences so far {len(bad['ingest'])}, "
            f"{len(bad['remove'])}",
            flush=True,
        )
        shutil.rmtree(data, ignore_errors=True)
    for kind, found in bad.items():
        for n, moment, what in found:
            print(f"{kind} killed at {moment:.2f} s in round {n + 1}: {what}")
    print(
        f"| kill -9 at {opts.rounds} random moments of an ingest ({opts.articles} articles, "
        f"{len(want['chunks'])} chunks, {ingest_seconds:.1f} s) and of a removal of {len(gone)} "
        f"({remove_seconds:.1f} s), each run again | indexes differing from a clean run: ingest "
        f"{len(bad['ingest'])}, removal {len(bad['remove'])} (articles lost, duplicated or orphaned: 0 when both "
        "are 0) |"
    )


def diff(want: dict[str, Any], got: dict[str, Any]) -> str:
    """What differs between two index states, in words."""
    lost = set(want["articles"]) - set(got["articles"])
    extra = set(got["articles"]) - set(want["articles"])
    chunks = len(set(want["chunks"]) ^ set(got["chunks"]))
    return f"articles lost {len(lost)}, extra {len(extra)}, chunk ids differing {chunks}; check: {got['check']!r}"


def cmd_determinism(opts: argparse.Namespace) -> None:
    """The same questions through `ask --jsonl` in fresh processes on one index: answers byte for byte."""
    data = opts.data_dir
    if not (data / "index.sqlite3").is_file():
        raise SystemExit(f"no index at {data}: `newsbot --data-dir {data} ingest {MULTIHOP}` first")
    lines = [json.loads(line) for line in QUESTIONS.open(encoding="utf-8")][: opts.questions]
    stdin = "".join(json.dumps({"id": q["id"], "question": q["question"]}) + "\n" for q in lines)
    runs = []
    for n in range(opts.processes):
        proc = newsbot("--data-dir", str(data), "ask", "--jsonl", stdin=subprocess.PIPE)
        out, _ = proc.communicate(stdin, timeout=3600)
        answers = [json.loads(line) for line in out.splitlines()]
        for a in answers:
            a.pop("latency_ms", None)
        runs.append(answers)
        print(f"process {n + 1}: {len(answers)} answers", flush=True)
    differing = sum(1 for i in range(len(runs[0])) if any(r[i] != runs[0][i] for r in runs[1:]))
    print(
        f"| the {len(lines)} MultiHop-RAG questions in {opts.processes} fresh processes (`ask --jsonl`, "
        f"{data.name}) | questions whose answer, citations or retrieved list differ between processes: "
        f"{differing} |"
    )


def rss_mb() -> float:
    """This process's resident memory now (MB), from /proc."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def cmd_memory(opts: argparse.Namespace) -> None:
    """One serving process answering `--questions` questions (the eval sets' questions in turn, answer cache on)."""
    sys.path.insert(0, str(ROOT))
    from bot.factory import open_pipeline, serving
    from bot.settings import Settings

    questions = [json.loads(line)["question"] for line in QUESTIONS.open(encoding="utf-8")]
    for name in ("squad/train.jsonl", "squad/dev.jsonl", "seed_questions.jsonl"):
        path = EVAL / name
        if path.is_file():
            questions += [json.loads(line)["question"] for line in path.open(encoding="utf-8")]
    pipeline = open_pipeline(Settings(data_dir=opts.data_dir, _env_file=None))  # type: ignore[call-arg]
    rows = []
    with serving(pipeline):
        rows.append((0, rss_mb()))
        for n in range(1, opts.questions + 1):
            pipeline.ask(questions[(n - 1) % len(questions)])
            if n % opts.every == 0:
                rows.append((n, rss_mb()))
                print(f"{n} questions: RSS {rows[-1][1]:.0f} MB", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"distinct questions: {len(set(questions))}; peak RSS {peak:.0f} MB")
    print(
        f"| one process answering {opts.questions:,} questions ({len(set(questions)):,} distinct, in turn; answer "
        f"cache on) on {opts.data_dir.name} | RSS (MB) after " + ", ".join(f"{n:,}: {m:.0f}" for n, m in rows) + " |"
    )


def cmd_outage(opts: argparse.Namespace) -> None:
    """`ask --jsonl` against a Chroma server that stops after a third of the questions and starts again after two
    thirds: the process must live through it and answer every question once the server is back."""
    import socket

    work = opts.work / "outage"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    chroma = Path(sys.executable).parent / "chroma"
    command = [str(chroma), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(work / "server")]

    def server() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):  # bounded: 60 s to start
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return proc
            time.sleep(0.2)
        proc.kill()
        raise SystemExit("the Chroma server did not start")

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env.update(NEWSBOT_CHROMA_URL=f"http://127.0.0.1:{port}", NEWSBOT_EXACT_LIMIT="0")
    data = str(work / "data")
    questions = [json.loads(line)["question"] for line in (EVAL / "seed_questions.jsonl").open(encoding="utf-8")]
    questions = [q for q in questions][: opts.questions]
    first = server()
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "--data-dir", data, "ingest", str(ROOT / "bot" / "seeds")],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    ask = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--data-dir", data, "ask", "--jsonl"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert ask.stdin is not None and ask.stdout is not None
    results: list[tuple[str, dict[str, Any]]] = []
    second: subprocess.Popen[bytes] | None = None
    for n, question in enumerate(questions):
        if n == len(questions) // 3:
            first.terminate()
            first.wait(30)
        if n == 2 * len(questions) // 3:
            second = server()
        phase = "before" if n < len(questions) // 3 else "during" if n < 2 * len(questions) // 3 else "after"
        ask.stdin.write(json.dumps({"id": str(n), "question": question}) + "\n")
        ask.stdin.flush()
        results.append((phase, json.loads(ask.stdout.readline())))
    ask.stdin.close()
    ask.wait(60)
    if second is not None:
        second.terminate()
        second.wait(30)
    counts = {phase: [r for p, r in results if p == phase] for phase in ("before", "during", "after")}
    answered = {phase: sum(1 for r in rs if "error" not in r) for phase, rs in counts.items()}
    print(
        f"| a Chroma server stopped after {len(counts['before'])} of {len(questions)} `ask --jsonl` questions and "
        f"started again {len(counts['during'])} later | process alive to the end: {ask.returncode in (0, 1)}; "
        f"answered before {answered['before']}/{len(counts['before'])}, during {answered['during']}/"
        f"{len(counts['during'])} (an error line each), after the restart {answered['after']}/{len(counts['after'])} |"
    )


def cmd_repair(opts: argparse.Namespace) -> None:
    """Delete the vectors of a copy of an index; `newsbot check --repair` must restore every one of them."""
    copy = opts.work / "repair"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(opts.data_dir, copy)
    shutil.rmtree(copy / "chroma")
    found = finish("--data-dir", str(copy), "check")
    started = time.perf_counter()
    repaired = finish("--data-dir", str(copy), "check", "--repair", "--sample", "200")
    seconds = time.perf_counter() - started
    after = finish("--data-dir", str(copy), "check", "--sample", "100000")
    print(found, repaired, after, sep="\n")
    print(
        f"| `chroma/` of {opts.data_dir.name} deleted | `check` finds: {found.splitlines()[1]}; `check --repair` "
        f"({seconds:.0f} s) then `check --sample 100000`: {after.splitlines()[1]}; {after.splitlines()[2]} |"
    )


def main(argv: list[str] | None = None) -> int:
    """Run one measurement."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.reliability", description=__doc__)
    p.add_argument("--work", type=Path, default=Path("/tmp/newsbot-reliability"), help="scratch folder")
    sub = p.add_subparsers(dest="command", required=True)
    kills = sub.add_parser("kills", help="kill -9 ingests and removals at random moments")
    kills.add_argument("--rounds", type=int, default=20)
    kills.add_argument("--articles", type=int, default=30)
    kills.add_argument("--seed", type=int, default=1)
    det = sub.add_parser("determinism", help="the same questions in several fresh processes")
    det.add_argument("data_dir", type=Path)
    det.add_argument("--processes", type=int, default=5)
    det.add_argument("--questions", type=int, default=200)
    mem = sub.add_parser("memory", help="RSS of one process answering many questions")
    mem.add_argument("data_dir", type=Path)
    mem.add_argument("--questions", type=int, default=10_000)
    mem.add_argument("--every", type=int, default=1000)
    outage = sub.add_parser("outage", help="a Chroma server stopped and started under a stream of questions")
    outage.add_argument("--questions", type=int, default=23)
    rep = sub.add_parser("repair", help="an index's vectors deleted, then check --repair")
    rep.add_argument("data_dir", type=Path)
    opts = p.parse_args(argv)
    opts.work.mkdir(parents=True, exist_ok=True)
    commands = {
        "kills": cmd_kills,
        "determinism": cmd_determinism,
        "memory": cmd_memory,
        "outage": cmd_outage,
        "repair": cmd_repair,
    }
    commands[opts.command](opts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
