"""The exception tree. Every message says what to do next.

NewsbotError
├── ArticleUnreadable   a path, file, URL or record that yields no article
├── IndexUnavailable    the index cannot be opened, reached or written (Chroma server down, bad or full data dir)
│   └── IndexBusy       another process is writing to the index (and the caller would not wait)
├── BadQuestion         empty, too long, or nothing left after cleaning
└── ConfigError         a setting that cannot work (model path, prompt template)
"""

from __future__ import annotations


class NewsbotError(Exception):
    """Base of every error newsbot reports to a user."""


class ArticleUnreadable(NewsbotError):
    """A source that yields no article; the message names it and the fix."""


class IndexUnavailable(NewsbotError):
    """The index cannot be opened, reached or written."""


class IndexBusy(IndexUnavailable):
    """Another process holds the index's writer lock; `holder` says who."""

    def __init__(self, message: str, holder: str = "another process") -> None:
        super().__init__(message)
        self.holder = holder


class BadQuestion(NewsbotError):
    """A question that cannot be asked as it is."""


class ConfigError(NewsbotError):
    """A setting that cannot work."""
