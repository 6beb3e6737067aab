"""The feed commands end to end through `bot.cli.main` (and `newsbot watch` as a process), against a real feed
server on 127.0.0.1 and a real index with the packaged model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.cli import main
from bot.watch import watch
from rag.config import FeedConfig
from rag.index.feedtable import FeedTable
from tests.conftest import ROOT
from tests.test_feeds import ATOM, PAGE_WITH_FEED, PARAS, RSS, Server, article_page, conditional, send, serve


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def site() -> object:
    with serve({}) as s:
        host = s.base.removeprefix("http://")
        s.routes.update(
            {
                "/rss": conditional(RSS, '"v1"'),
                "/atom": send(ATOM.replace("{host}", host).encode(), "application/atom+xml"),
                "/page": send(PAGE_WITH_FEED, "text/html"),
                "/plain-page": send(b"<html><head><title>x</title></head><body>no feeds</body></html>", "text/html"),
                "/news/harbour": send(article_page("Harbour reopens", PARAS), "text/html"),
            }
        )
        yield s


def test_add_list_refresh_export_import_remove(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, site: Server
) -> None:
    data = str(tmp_path / "data")
    code, out, err = run(capsys, "--data-dir", data, "feeds", "add", site.base + "/rss", site.base + "/page")
    assert code == 0, err
    assert "following 1: Example News" in out
    assert f"following 2: Atom Times — {site.base}/atom (advertised by {site.base}/page)" in out
    code, out, err = run(capsys, "--data-dir", data, "feeds", "add", site.base + "/plain-page", "file:///etc/passwd")
    assert code == 1 and out == ""
    assert err.count("\n") == 2 and "advertises no feed" in err and "file:///etc/passwd: cannot fetch" in err

    code, out, err = run(capsys, "--data-dir", data, "refresh")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "1 Example News: 4 new, 0 skipped — " + lines[0].split(" — ", 1)[1]  # the future date noted
    assert lines[1] == "2 Atom Times: 1 new, 0 skipped"
    assert lines[2].startswith("2 feeds, 5 articles added or updated, 0 failed;")
    code, out, _ = run(capsys, "--data-dir", data, "refresh", "--all")
    assert out.splitlines()[0] == "1 Example News: unchanged" and "2 Atom Times: 0 new, 1 skipped" in out

    code, out, _ = run(capsys, "--data-dir", data, "feeds", "list", "--json")
    feeds = [json.loads(line) for line in out.splitlines()]
    assert [(f["id"], f["title"], f["articles"], f["status"]) for f in feeds] == [
        (1, "Example News", 4, "unchanged"),
        (2, "Atom Times", 1, "ok"),
    ]
    code, out, _ = run(capsys, "--data-dir", data, "list")
    assert "Harbour reopens" in out and "Rail strike ends" in out

    code, opml, _ = run(capsys, "--data-dir", data, "feeds", "export")
    assert code == 0 and f'xmlUrl="{site.base}/rss"' in opml
    (tmp_path / "f.opml").write_text(opml)
    code, out, err = run(capsys, "--data-dir", str(tmp_path / "other"), "feeds", "import", str(tmp_path / "f.opml"))
    assert code == 0 and out.count("following") == 2

    code, out, err = run(capsys, "--data-dir", data, "feeds", "remove", "2", site.base + "/nope")
    assert code == 1 and "stopped following 2" in out and "(1 articles stay)" in out and "no feed" in err
    code, out, _ = run(capsys, "--data-dir", data, "feeds", "remove", "1", "--purge")
    assert code == 0 and "removed 4 articles" in out
    code, out, _ = run(capsys, "--data-dir", data, "list")
    assert out.splitlines() == [line for line in out.splitlines() if "Rail strike ends" in line]


def test_watch_runs_on_its_schedule_and_stops_cleanly(tmp_path: Path, fake_pipeline, site: Server) -> None:  # type: ignore[no-untyped-def]
    table = FeedTable(fake_pipeline.registry.path)
    table.add(site.base + "/rss")
    table.close()
    stop = threading.Event()
    said: list[str] = []
    reports = []

    def on_report(report: object) -> None:
        reports.append(report)
        if len(reports) == 2:
            stop.set()

    config = FeedConfig(allow_private=True, every=0.2)
    done = threading.Thread(
        target=watch, args=(fake_pipeline, config), kwargs={"every": 0.2, "say": said.append, "stop": stop,
                                                            "on_report": on_report},
    )  # fmt: skip
    done.start()
    done.join(timeout=60)
    assert not done.is_alive()
    assert len(reports) == 2 and said[-1] == "stopped"
    assert len(reports[0].new_doc_ids) == 4 and [o.status for o in reports[1].outcomes] == ["unchanged"]
    assert len(site.hits("/rss")) == 2  # one request a pass


def test_watch_process_stops_on_sigterm(tmp_path: Path, site: Server) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "NEWSBOT_ALLOW_PRIVATE_URLS": "1", "NEWSBOT_DATA_DIR": str(data)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "watch", "--every", "1h"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("watching the feeds: a refresh every 3600 s")
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (
        proc.returncode == 0 and "stopping after the article in hand (SIGTERM)" in rest and rest.endswith("stopped\n")
    )
