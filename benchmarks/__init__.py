"""The benchmark behind docs/benchmarks.md: newsbot beside a plain LangChain pipeline and the model's own floor.

`python -m benchmarks --help` lists the flags. Every figure is measured in child processes (one job
each, so imports, threads and peak memory do not leak from one measurement into another) and
printed next to its reference from the same run.
"""
