"""The machine and the library versions a report was measured with."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "torch",
    "numpy",
    "tokenizers",
    "safetensors",
    "onnxruntime",
    "onnx",
    "sentence-transformers",
    "transformers",
    "chromadb",
    "langchain-core",
    "langchain-chroma",
    "langchain-huggingface",
    "langchain-text-splitters",
)


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gb() -> float:
    """Physical memory in GB."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9


def load_average() -> str:
    """The 1/5/15-minute load averages, as one string."""
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def versions() -> dict[str, str]:
    """Installed versions of the packages that matter to the figures."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def describe() -> dict[str, str]:
    """Everything the report's header says about where it was measured."""
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": f"{memory_gb():.0f} GB",
        "os": f"{platform.system()} {platform.release()}",
        "load": load_average(),
    }
