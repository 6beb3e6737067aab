"""The answer reader: a cross-encoder scoring how well a sentence answers a question (0–1).

It is the packaged all-MiniLM-L6-v2 fine-tuned on SQuAD 2.0 questions (CC BY-SA 4.0) by
`python -m benchmarks.train_reader`: "question [SEP] sentence" goes through the embedder's own ONNX graph
(`rag.index.onnx_bert`), and one linear unit over its unit vector gives the score. Only the layers the training
changed ship with newsbot (`rag/answer/reader/reader.safetensors`, fp16, checked against its sha256); the
embeddings and lower layers are the packaged model's. Everything loads on first use; a few sentences score in
one batch in a few milliseconds.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.errors import ConfigError

READER_FILE = "reader.safetensors"
SHA_FILE = "reader.sha256"
HEAD = "head"
TRAINED_FROM = 2  # layers below this are the packaged model's own, read from it at run time
READER_DIR = Path(__file__).resolve().parent / "reader"
MAX_TOKENS = 128
_FIX = "reinstall newsbot, rebuild them with `python -m benchmarks.train_reader`, or set NEWSBOT_READER=off"


def verified_weights(directory: Path = READER_DIR) -> Path:
    """The reader's weights file, once its sha256 matches the one shipped beside it; ConfigError if not."""
    path, sha = directory / READER_FILE, directory / SHA_FILE
    if not path.is_file() or not sha.is_file():
        raise ConfigError(f"the answer reader's weights are missing from {directory} — {_FIX}")
    expected = sha.read_text().split()[0] if sha.read_text().split() else ""
    if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        raise ConfigError(f"the answer reader's weights at {path} are damaged (sha256 differs) — {_FIX}")
    return path


class Reader:
    """Scores (question, sentence) pairs with the trained cross-encoder; loads on first use, thread-safe."""

    def __init__(self, directory: Path = READER_DIR, model: str = "") -> None:
        self.directory = directory
        self.model = model  # the packaged model ("") whose embeddings and lower layers the reader shares
        self._loaded: tuple[Any, Any, Any, float] | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the weights now (checking them) rather than on the first question."""
        self._parts()

    def _parts(self) -> tuple[Any, Any, Any, float]:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._build()
            return self._loaded

    def _build(self) -> tuple[Any, Any, Any, float]:
        import numpy as np
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        from rag.index.embedder import QUERY_THREADS, bert_shape, resolve_model_path
        from rag.index.onnx_bert import bert_session, bert_weights

        path = verified_weights(self.directory)
        base_dir = Path(resolve_model_path(self.model))
        shape = bert_shape(base_dir)
        if shape is None:
            raise ConfigError(f"the answer reader needs the packaged all-MiniLM-L6-v2 model at {base_dir} — {_FIX}")
        try:
            trained = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise ConfigError(f"the answer reader's weights at {path} cannot be read ({exc}) — {_FIX}") from None
        weights = load_file(str(base_dir / "model.safetensors"))
        for name, value in trained.items():
            if not name.startswith(HEAD):
                weights[name] = value.astype(np.float32)
        head_w = trained[HEAD + ".weight"].astype(np.float32)
        head_b = float(trained[HEAD + ".bias"].astype(np.float32)[0])
        tokenizer = Tokenizer.from_file(str(base_dir / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(MAX_TOKENS)
        session = bert_session(bert_weights(weights, shape), shape, threads=QUERY_THREADS, spin=False)
        return tokenizer, session, head_w, head_b

    def score(self, question: str, sentences: Sequence[str]) -> list[float]:
        """For each sentence, the probability that it answers the question; all in one batch."""
        if not sentences:
            return []
        import numpy as np

        tokenizer, session, head_w, head_b = self._parts()
        encodings = [e.ids for e in tokenizer.encode_batch([(question, s.strip()) for s in sentences])]
        width = max(len(e) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for i, e in enumerate(encodings):
            ids[i, : len(e)] = e
            mask[i, : len(e)] = 1
        (unit,) = session.run(None, {"input_ids": ids, "attention_mask": mask})
        logits = unit @ head_w + head_b
        return [float(x) for x in 1.0 / (1.0 + np.exp(-logits))]
