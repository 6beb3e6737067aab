"""Settings → Pipeline: the one place that turns settings into a pipeline, and the serving process's set-up."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

log = logging.getLogger(__name__)


def open_pipeline(settings: Settings, *, create: bool = True) -> Pipeline:
    """The pipeline the settings describe; the embedding model loads on first use, Chroma on first touch. Without
    `create`, a data dir that holds no index is an error, not made."""
    from rag.pipeline import Pipeline

    config = settings.pipeline_config()
    if settings.llm:  # generative answers: LangChain's chat-model packages are imported only then
        from bot.chat_model import chat_setup

        config = config.with_chat(chat_setup(settings))
    return Pipeline.open(config, create=create)


# While serving, a thread waiting for the GIL gets it within 0.5 ms instead of CPython's 5: the question's
# embedding runs on a thread of its own while this one reads and parses the chunks the answer will need, and
# each time it comes back from ONNX Runtime or Chroma it waits for the GIL (docs/performance.md).
SWITCH_INTERVAL = 0.0005


@contextmanager
def serving(pipeline: Pipeline) -> Iterator[None]:
    """While a process answers question after question (the REPL, the Telegram bot, the benchmark's latency
    worker): what answering needs is loaded first (`Pipeline.warm`), then what start-up left is collected and
    everything alive is moved out of the cycle collector's sight (`gc.freeze`) until the block ends. The modules,
    the Chroma client and the index live as long as the serving does, and a full collection that walked them cost
    the question it fell in ~60 ms more at 100k chunks. The GIL is handed over every SWITCH_INTERVAL seconds."""
    read = pipeline.warm()
    log.debug("serving: %d chunks read ahead", read)
    gc.collect()
    gc.freeze()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        gc.unfreeze()
