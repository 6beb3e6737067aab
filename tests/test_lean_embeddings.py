"""The lean embedding engine: sentence-transformers' vectors on ONNX Runtime, without its imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.index.embedder import BertShape, SentenceTransformerEmbeddings, bert_shape, resolve_model_path
from tests.conftest import ROOT, SEED_FILE

MODEL = Path(resolve_model_path(""))


def test_packaged_model_runs_lean() -> None:
    assert bert_shape(MODEL) == BertShape(layers=6, heads=12, hidden=384, eps=1e-12, max_tokens=256)


def copy_model(tmp_path: Path, pooling: dict[str, bool] | None = None, model_type: str = "bert") -> Path:
    """A model directory like the packaged one (weights linked, not copied), with one thing changed."""
    target = tmp_path / "model"
    (target / "1_Pooling").mkdir(parents=True)
    for name in ("modules.json", "sentence_bert_config.json", "tokenizer.json"):
        (target / name).write_bytes((MODEL / name).read_bytes())
    (target / "model.safetensors").symlink_to(MODEL / "model.safetensors")
    config = json.loads((MODEL / "config.json").read_text()) | {"model_type": model_type}
    (target / "config.json").write_text(json.dumps(config))
    pool = json.loads((MODEL / "1_Pooling" / "config.json").read_text()) | (pooling or {})
    (target / "1_Pooling" / "config.json").write_text(json.dumps(pool))
    return target


@pytest.mark.parametrize(
    ("pooling", "model_type", "lean"),
    [
        (None, "bert", True),  # the packaged model's shape
        ({"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}, "bert", False),  # CLS pooling
        ({"pooling_mode_max_tokens": True}, "bert", False),  # mean and max
        (None, "roberta", False),  # another architecture
    ],
)
def test_other_shapes_fall_back_to_sentence_transformers(
    tmp_path: Path, pooling: dict[str, bool] | None, model_type: str, lean: bool
) -> None:
    assert (bert_shape(copy_model(tmp_path, pooling, model_type)) is not None) is lean


def test_missing_files_fall_back(tmp_path: Path) -> None:
    assert bert_shape(tmp_path) is None


TEXTS = [
    "What did Dedov say about Oman?",
    "",
    "   ",
    "Ünïcödé façade — “curly quotes”, emoji 😀 and 中文",
    "word " * 400,  # beyond 256 tokens: truncated as sentence-transformers truncates
    *SEED_FILE.read_text(encoding="utf-8").split("\n\n")[:12],
]


@pytest.mark.slow
def test_vectors_equal_sentence_transformers() -> None:
    lean = SentenceTransformerEmbeddings()
    reference = SentenceTransformerEmbeddings(lean=False).encode(TEXTS)
    one_thread = lean.encode(TEXTS)
    lean.engine.short_tokens = 0  # type: ignore[union-attr]  # every call is long: the session on every core
    every_core = lean.encode(TEXTS)
    assert one_thread.shape == every_core.shape == reference.shape == (len(TEXTS), 384)
    assert float(np.abs(one_thread - reference).max()) < 1e-5
    assert float(np.abs(every_core - reference).max()) < 1e-5
    assert np.allclose(np.linalg.norm(one_thread, axis=1), 1.0, atol=1e-6)


def test_a_batch_is_padded_without_changing_its_vectors() -> None:
    """Texts of different lengths in one batch (padding masked out) get the vectors they get alone."""
    lean = SentenceTransformerEmbeddings()
    texts = ["Oman", "What did Dedov say about Oman on his visit to Muscat last week?", "a b c d e f g"]
    together = lean.encode(texts)
    alone = np.vstack([lean.encode([t]) for t in texts])
    assert float(np.abs(together - alone).max()) < 1e-6


def test_embedding_never_imports_torch() -> None:
    code = (
        "import sys; from rag.index.embedder import SentenceTransformerEmbeddings as E; e = E(); "
        "v = e.embed_query('What did Dedov say about Oman?'); d = e.embed_documents(['word ' * 200] * 4); "
        "print(len(v), round(sum(x * x for x in v), 4), len(d), 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["384", "1.0", "4", "False", "False"]


def test_empty_call() -> None:
    assert SentenceTransformerEmbeddings().encode([]).shape == (0, 384)


def test_questions_run_on_two_threads_that_sleep_when_idle() -> None:
    import os

    from rag.index.embedder import QUERY_THREADS, LeanBert
    from rag.index.onnx_bert import INPUTS

    engine = LeanBert(MODEL, bert_shape(MODEL))
    options = engine._short.get_session_options()
    assert options.intra_op_num_threads == min(QUERY_THREADS, os.cpu_count() or 1)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    one = engine._session(threads=1)  # the same vectors as one thread's, bit for bit
    ids = np.array([engine.tokenizer.encode("What did Dedov say about Oman?").ids], dtype=np.int64)
    feed = dict(zip(INPUTS, (ids, np.ones_like(ids)), strict=True))
    assert np.array_equal(engine._short.run(None, feed)[0], one.run(None, feed)[0])


def test_ingest_threads_stop_spinning_when_a_run_returns() -> None:
    from rag.index.embedder import LeanBert

    engine = LeanBert(MODEL, bert_shape(MODEL))
    vectors = engine.encode(["word " * 200] * 8)  # long: the session with a thread per core, spinning inside a run
    assert vectors.shape == (8, 384)
    for session in (engine._long, engine._short):
        # ORT's default keeps a worker spinning ~50 ms after a run (a core taken from the writes that follow)
        assert session.get_session_options().get_session_config_entry("session.force_spinning_stop") == "1"
