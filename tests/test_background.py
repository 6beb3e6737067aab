"""rag/background.py: a call on a thread of its own, its outcome read when the caller wants it."""

from __future__ import annotations

import threading

import pytest

from rag.background import InBackground


def test_done_once_the_call_returns_and_its_value_is_the_result() -> None:
    go = threading.Event()
    call = InBackground(lambda: go.wait(10) and 42)
    assert not call.done()  # it waits for `go`
    go.set()
    assert call.result() == 42
    assert call.done()


def test_an_error_is_raised_by_result_and_the_call_is_done() -> None:
    def fail() -> None:
        raise ValueError("boom")

    call = InBackground(fail)
    with pytest.raises(ValueError, match="boom"):
        call.result()
    assert call.done()
