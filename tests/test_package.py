"""The wheel is the product: built from the repository, installed into a fresh venv, it answers from any directory
with the seed article and the prompt templates it carries as package data."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import OMAN_QUOTE, ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding the wheel built from this checkout (its dependencies lent by the test's own environment,
    without that environment's editable install of newsbot)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # the files git tracks, as a fresh clone has them (and no build/ left in the checkout)
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in tracked.decode().split("\0"):
        if name and not name.startswith("tests/telegram_emulator/"):
            target = source / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if (ROOT / name).is_symlink():
                target.symlink_to(os.readlink(ROOT / name))
            else:
                shutil.copy2(ROOT / name, target)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(work), str(source)],
        check=True,
        cwd=work,
    )
    [wheel] = work.glob("newsbot-*.whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=False)
    own = next((env_dir / "lib").glob("python3*/site-packages"))
    # A plain path line: the lent site-packages' own .pth files (the editable install) are not run.
    (own / "lent.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    python = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        cwd=work,
    )
    return env_dir


def run(env_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_") and k != "PYTHONPATH"}
    return subprocess.run(
        [str(env_dir / "bin" / "newsbot"), *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=300
    )


def test_the_installed_wheel_answers_from_any_directory(installed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run(installed, elsewhere, "--version")
    assert where.stdout.strip() == "newsbot 0.1.0"
    done = run(installed, elsewhere, "--data-dir", str(tmp_path / "data"), "ask", "What did Dedov say about Oman?")
    assert done.returncode == 0, done.stderr
    assert OMAN_QUOTE in done.stdout
    assert "indexing the seed articles" in done.stderr  # the packaged seed article, found without the checkout
    probe = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import rag, bot; print(rag.__file__); print(bot.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    )
    assert all(str(installed) in line for line in probe.stdout.splitlines())  # the wheel's code, not the checkout's


def test_the_wheel_carries_the_prompt_templates(installed: Path, tmp_path: Path) -> None:
    probe = subprocess.run(
        [
            str(installed / "bin" / "python"),
            "-c",
            "from rag.answer.prompts import load_prompts, shipped_prompts; load_prompts(); print(shipped_prompts())",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip().startswith(str(installed))


def test_the_wheel_carries_the_answer_reader(installed: Path, tmp_path: Path) -> None:
    probe = subprocess.run(
        [
            str(installed / "bin" / "python"),
            "-c",
            "from rag.answer.reader import verified_weights; print(verified_weights())",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip().startswith(str(installed))
