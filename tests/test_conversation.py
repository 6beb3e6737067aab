"""Follow-up questions made standalone without a model, and the turns of one chat."""

from __future__ import annotations

import pytest

from rag.question.followups import Conversation, is_followup, resolve_followup, topic_of


@pytest.mark.parametrize(
    ("history", "question", "standalone"),
    [
        # a pronoun takes the subject of a "who is X?" question
        (
            ["Who is Alexey Yurievich Dedov?"],
            "When did he serve in Islamabad?",
            "When did Alexey Yurievich Dedov serve in Islamabad?",
        ),
        # ... even when X is a description rather than a name
        (
            ["Who is the Russian ambassador to Iran?"],
            "Where did he serve before his current posting?",
            "Where did the Russian ambassador to Iran serve before his current posting?",
        ),
        (
            ["What is the Comprehensive Strategic Partnership Treaty?"],
            "Where was it signed?",
            "Where was the Comprehensive Strategic Partnership Treaty signed?",
        ),
        # a possessive stays possessive
        (["Who is Seyed Abbas Salehi?"], "What is his role?", "What is Seyed Abbas Salehi’s role?"),
        # a long question's topic is its longest name; a demonstrative gets it in brackets
        (
            ["What is the status of construction at the Bushehr Nuclear Power Plant?"],
            "Have sanctions stopped that work?",
            "Have sanctions stopped that work (Bushehr Nuclear Power Plant)?",
        ),
        # "what about X?" repeats the earlier question about X
        (["What did Dedov say about Oman?"], "What about sanctions?", "What did Dedov say about sanctions?"),
        (["What did Dedov say about Oman?"], "And about sanctions?", "What did Dedov say about sanctions?"),
        (["When did Dedov serve in Islamabad?"], "And in Tehran?", "When did Dedov serve in Tehran?"),
        # a question word alone asks the earlier question for another thing
        (["Who signed the treaty?"], "Where?", "Where signed the treaty?"),
        (
            ["When was the Comprehensive Strategic Partnership Treaty signed?"],
            "And where exactly?",
            "Where was the Comprehensive Strategic Partnership Treaty signed?",
        ),
        (["Did Russia sign the treaty?"], "Why?", "Why did Russia sign the treaty?"),
        (["Who signed the treaty?"], "How many?", "How many signed the treaty?"),
        # the latest question that names something is used
        (
            ["Who is Seyed Abbas Salehi?", "Is the treaty in force?"],
            "What did he say?",
            "What did Seyed Abbas Salehi say?",
        ),
        # not a follow-up, or nothing to resolve against: unchanged
        (["Who is Alexey Yurievich Dedov?"], "When was the treaty signed?", "When was the treaty signed?"),
        ([], "When did he serve in Islamabad?", "When did he serve in Islamabad?"),
        # the topic is already in the question
        (["Who is Dedov?"], "Did Dedov say it himself?", "Did Dedov say it himself?"),
    ],
)
def test_resolve_followup(history: list[str], question: str, standalone: str) -> None:
    assert resolve_followup(question, history) == standalone


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("Who is Alexey Yurievich Dedov?", "Alexey Yurievich Dedov"),
        ("Who is the Russian ambassador to Iran?", "the Russian ambassador to Iran"),
        ("What is the status of construction at the Bushehr Nuclear Power Plant?", "Bushehr Nuclear Power Plant"),
        ("What did Dedov say about Oman?", "Dedov"),
        ("How are things?", None),
    ],
)
def test_topic_of(question: str, topic: str | None) -> None:
    assert topic_of(question) == topic


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("When did he serve?", True),
        ("Have sanctions stopped that work?", True),
        ("What about sanctions?", True),
        ("Where?", True),
        ("Where is Bushehr?", False),
        ("When was the treaty signed?", False),
    ],
)
def test_is_followup(question: str, expected: bool) -> None:
    assert is_followup(question) is expected


def test_conversation_from_history_resolves_each_turn() -> None:
    conv = Conversation.from_history(["Who is Alexey Yurievich Dedov?", "When did he serve in Islamabad?"])
    assert conv.standalones() == [
        "Who is Alexey Yurievich Dedov?",
        "When did Alexey Yurievich Dedov serve in Islamabad?",
    ]
    assert conv.last_answer is None
    conv.reset()
    assert conv.standalones() == []


def test_conversation_keeps_the_last_turns() -> None:
    conv = Conversation(max_turns=2)
    for q in ["one?", "two?", "three?"]:
        conv.add(q, q)
    assert conv.standalones() == ["two?", "three?"]
