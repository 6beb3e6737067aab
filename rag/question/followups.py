"""The turns of one chat, and follow-up questions made standalone without a model."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.types import Answer

_PERSONAL = r"he|she|him|his|her|hers|they|them|their"
_ANAPHOR = re.compile(rf"\b(?:{_PERSONAL}|it|its)\b", re.IGNORECASE)
_DEMONSTRATIVE = re.compile(r"\b(?:that|this|these|those)\s+(?P<noun>[a-z]+)\b", re.IGNORECASE)
_ELLIPSIS = re.compile(
    r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(?P<rest>.+?)\s*\??\s*$|^\s*and\s+(?P<and>.+?)\s*\?\s*$", re.I
)
# "Where?", "And when exactly?": a question word alone asks the earlier question again, for another thing.
_BARE_WH = re.compile(
    r"^\s*(?:and|but|so)?\s*(?P<wh>when|where|why|who|how(?:\s+(?:many|much|long|often))?)"
    r"(?:\s+(?:exactly|then|so))?\s*[?.!]*\s*$",
    re.IGNORECASE,
)
_LEADING_WH = re.compile(r"^\s*(?:who|what|when|where|why|which|how(?:\s+(?:many|much|long|often))?)\b", re.I)
_QUESTION_WORDS = frozenset(
    "what who whom whose when where which why how is are was were did do does has have had can could "
    "will would should and but or so also tell give list name".split()
)
_COPULA = re.compile(r"^\s*(?:who|what)\s+(?:is|was|are|were)\s+(?P<x>[^?]+?)\s*\??\s*$", re.IGNORECASE)
_MAX_TOPIC_WORDS = 6
# A run of capitalised words, allowing inner connectors: "Bushehr Nuclear Power Plant", "Bank of England".
_NAME = re.compile(r"\b[A-Z][\w’'\-–]*(?:\s+(?:(?:of|the|and|for|de|al|bin|von|van)\s+)?[A-Z][\w’'\-–]*)*")


@dataclass(frozen=True)
class Turn:
    """One question of a chat, as asked and as answered."""

    question: str
    standalone: str
    answer: Answer | None = None


@dataclass
class Conversation:
    """The turns of one chat, newest last; only the last `max_turns` are kept."""

    turns: list[Turn] = field(default_factory=list)
    max_turns: int = 10

    def add(self, question: str, standalone: str, answer: Answer | None = None) -> None:
        """Record a turn."""
        self.turns.append(Turn(question, standalone, answer))
        del self.turns[: -self.max_turns]

    def standalones(self) -> list[str]:
        """The resolved questions so far, oldest first."""
        return [t.standalone for t in self.turns]

    @property
    def last_answer(self) -> Answer | None:
        """The latest answer, if any."""
        return self.turns[-1].answer if self.turns else None

    def reset(self) -> None:
        """Forget every turn."""
        self.turns.clear()

    @classmethod
    def from_history(cls, questions: list[str]) -> Conversation:
        """A conversation whose earlier questions were `questions` (oldest first), each resolved in turn."""
        conv = cls()
        for q in questions:
            conv.add(q, resolve_followup(q, conv.standalones()))
        return conv


def topic_of(question: str) -> str | None:
    """The main named thing of a question.

    What a short "who/what is X?" question asks about ("Who is the Russian ambassador to Iran?" →
    "the Russian ambassador to Iran"), else its longest capitalised phrase, else its last noun phrase.
    """
    m = _COPULA.match(question)
    if m and len(m["x"].split()) <= _MAX_TOPIC_WORDS and not _ANAPHOR.match(m["x"]):
        return m["x"]
    names = [m.group().strip() for m in _NAME.finditer(question)]
    names = [n for n in names if n.split()[0].lower() not in _QUESTION_WORDS or len(n.split()) > 1]
    names = [" ".join(w for w in n.split() if w.lower() not in _QUESTION_WORDS) for n in names]
    names = [n for n in names if n]
    if names:
        return max(names, key=len)
    m = re.search(r"\b(?:the|a|an)\s+([\w\s\-]+?)\s*[?.!]*$", question)
    return m.group(1).strip() if m else None


def is_followup(question: str) -> bool:
    """True when the question leans on an earlier one: a pronoun, a demonstrative, "what about X?"."""
    return bool(
        _ANAPHOR.search(question)
        or _DEMONSTRATIVE.search(question)
        or _ELLIPSIS.match(question)
        or _BARE_WH.match(question)
    )


def _resolve_bare_wh(question: str, previous: str) -> str | None:
    """ "Where?" after "Who signed the treaty?" → "Where signed the treaty?" (the words the answerer reads:
    what kind of answer, about what); after "Did Russia sign it?" → "Where did Russia sign it?"."""
    m = _BARE_WH.match(question)
    if not m:
        return None
    wh = m["wh"].lower().capitalize()
    lead = _LEADING_WH.match(previous)
    if lead:
        return f"{wh}{previous[lead.end() :]}"
    rest = previous.strip()
    return f"{wh} {rest[:1].lower()}{rest[1:]}"


def _resolve_ellipsis(question: str, previous: str) -> str | None:
    """ "What about sanctions?" after "What did Dedov say about Oman?" → "What did Dedov say about sanctions?" """
    m = _ELLIPSIS.match(question)
    if not m:
        return None
    rest = (m["rest"] or m["and"]).strip()
    about = re.search(r"\b(about|on|regarding)\s+.+?(\?*)$", previous, re.IGNORECASE)
    if about:
        rest = re.sub(rf"^{about.group(1)}\s+", "", rest, flags=re.IGNORECASE)  # "and about X?": one "about"
        return f"{previous[: about.start()]}{about.group(1)} {rest}?"
    topic = topic_of(previous)
    if not topic or topic not in previous:
        return None
    before = previous[: previous.index(topic)].split()
    first, _, tail = rest.partition(" ")
    if before and tail and first.lower() == before[-1].lower():  # "And in Tehran?" after "… serve in Islamabad?"
        rest = tail
    return previous.replace(topic, rest, 1)


def resolve_followup(question: str, history: list[str]) -> str:
    """The question with its pronoun resolved against the latest earlier question that names something.

    "When did he serve in Islamabad?" after "Who is Alexey Yurievich Dedov?"
    → "When did Alexey Yurievich Dedov serve in Islamabad?"
    """
    if not history or not is_followup(question):
        return question
    elliptic = _resolve_bare_wh(question, history[-1]) or _resolve_ellipsis(question, history[-1])
    if elliptic:
        return elliptic
    personal = re.search(r"\b(?:he|she|him|his|her|hers)\b", question, re.IGNORECASE) is not None
    topics = [t for t in (topic_of(h) for h in reversed(history)) if t]
    # "he" and "she" stand for someone named: skip topics with no capitalised word ("the treaty in force")
    topic = next((t for t in topics if not personal or any(w[:1].isupper() for w in t.split())), None)
    if not topic or topic.lower() in question.lower():
        return question
    m = _ANAPHOR.search(question)
    if m:
        word = m.group().lower()
        possessive = word in ("his", "her", "hers", "its", "their")
        replacement = f"{topic}’s" if possessive else topic
        if word in ("him", "them", "it", "her") and not possessive:
            replacement = topic
        return question[: m.start()] + replacement + question[m.end() :]
    d = _DEMONSTRATIVE.search(question)
    assert d is not None
    return f"{question[: d.end()]} ({topic}){question[d.end() :]}"
