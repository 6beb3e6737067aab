"""`python -m benchmarks`: measure every corpus size and write docs/benchmarks.md."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from benchmarks import machine
from benchmarks.corpora import sizes
from benchmarks.measure import ROOT, progress
from benchmarks.report import render
from benchmarks.run import Options, measure_size, product_index


def parser() -> argparse.ArgumentParser:
    """The benchmark's flags."""
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--sizes", default="seed,609,100k", help="comma-separated: seed, 609, 100k (default: all)")
    p.add_argument("--repeats", type=int, default=3, help="process-level repeats of each measurement (default 3)")
    p.add_argument("--passes", type=int, default=2, help="passes over the questions per latency process (default 2)")
    p.add_argument("--questions", type=int, default=50, help="questions per size (default 50)")
    p.add_argument("--ingest-articles", type=int, default=100, help="articles of the ingest subset (default 100)")
    p.add_argument("--synthetic-chunks", type=int, default=100_000, help="chunks of the largest size")
    p.add_argument("--parts", default="ingest,latency,cold", help="comma-separated: ingest, latency, cold")
    p.add_argument("--no-engine-reference", action="store_true", help="skip timing newsbot's engine alone")
    p.add_argument("--cache-dir", type=Path, default=Path("/tmp/newsbot-bench"), help="where built indexes are kept")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="the report to write")
    p.add_argument("--json", type=Path, help="also write the raw measurements here")
    p.add_argument("--fake-model", action="store_true", help="a hash embedder instead of the model (tests only)")
    p.add_argument("--from-json", type=Path, help="measure nothing: rewrite the report from a --json file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; write the report."""
    args = parser().parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text(encoding="utf-8"))
        args.out.write_text(render(saved["results"], saved["header"]), encoding="utf-8")
        progress(f"rewrote {args.out} from {args.from_json}")
        return 0
    started, header_machine = time.time(), machine.describe()
    opts = Options(
        cache_dir=args.cache_dir,
        repeats=args.repeats,
        passes=args.passes,
        ingest_articles=args.ingest_articles,
        parts=frozenset(args.parts.split(",")),
        engine_reference=not args.no_engine_reference,
        fake=args.fake_model,
    )
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    names = args.sizes.split(",")
    results, base = [], None
    for size in sizes(names, args.questions, args.synthetic_chunks):
        progress(f"=== {size.label}")
        if size.synthetic_chunks and base is None:
            base = product_index(next(sizes(["609"], args.questions, 0)), opts, None)
        result, index = measure_size(size, opts, base)
        if size.name == "609":
            base = index
        results.append(result)
    busy = float(header_machine["load"].split(" / ")[0]) > 0.7  # before any of ours ran: someone else's work
    header = {
        "command": "python -m benchmarks " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "minutes": (time.time() - started) / 60,
        "machine": header_machine,
        "load_end": machine.load_average(),
        "versions": machine.versions(),
        "caveat": "loaded" if busy else "",  # the report words it (benchmarks.report.shared_machine)
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results, header), encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps({"header": header, "results": results}, indent=1), encoding="utf-8")
    progress(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
