"""newsbot's retrieval-augmented pipeline: articles → chunks → Chroma + BM25 → cited answers.

Knows no terminal and no Telegram; reads no environment variables; never prints.
"""

from rag.answer import REFUSAL
from rag.errors import ArticleUnreadable, BadQuestion, ConfigError, IndexUnavailable, NewsbotError
from rag.question.followups import Conversation
from rag.types import Answer, Article, ArticleInfo, Chunk, Citation, IngestReport, Passage

__all__ = [
    "REFUSAL",
    "Answer",
    "Article",
    "ArticleInfo",
    "ArticleUnreadable",
    "BadQuestion",
    "Chunk",
    "Citation",
    "ConfigError",
    "Conversation",
    "IndexUnavailable",
    "IngestReport",
    "NewsbotError",
    "Passage",
]
