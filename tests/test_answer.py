"""The extractive answerer on hand-made passages (no model, no index): which sentences it quotes, when it refuses."""

from __future__ import annotations

import pytest

from rag.answer import REFUSAL
from rag.answer.extractive import ExtractiveAnswerer
from rag.question.kinds import Expectation, expectation, fits, parse_speaker
from rag.question.words import stems
from rag.types import Chunk, Passage

ARTICLE = (
    "Dedov is the Russian ambassador in Tehran.\n\n"
    "“Oman’s mediation has been highly active and positive,” Dedov added. Oman also hosted talks.\n\n"
    "The treaty was praised by both sides. It was signed on January 17, 2025, in Moscow.\n\n"  # from 138
    "Moscow will host the ceremony, with Iranian films taking part. The special envoy visited Tehran.\n\n"
    "Dedov previously served in Tehran from 2004. He later served in Islamabad from 2013."
)


def passages(*paragraphs: int, doc_id: str = "seed", source: str = "", published: str | None = None) -> list[Passage]:
    """Passages of ARTICLE, one per paragraph number given (0-based), in the order given."""
    spans, pos = [], 0
    for para in ARTICLE.split("\n\n"):
        spans.append((pos, pos + len(para)))
        pos += len(para) + 2
    out = []
    for i in paragraphs:
        start, end = spans[i]
        chunk = Chunk(f"{doc_id}:{i}", doc_id, ARTICLE[start:end], start, end, (i + 1,), "Envoy interview", source)
        out.append(Passage(chunk, score=1.0 / (len(out) + 1)))
    return out


ALL = passages(0, 1, 2, 3, 4)


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        # whose words: the quote, with its attribution, from the passage that holds it
        ("What did Dedov say about Oman?", "“Oman’s mediation has been highly active and positive,” Dedov added. [1]"),
        # a date question takes the sentence with the date, not the one that only names the treaty
        ("When was the treaty signed?", "It was signed on January 17, 2025, in Moscow. [1]"),
        # the name everyone repeats weighs little; the one word that singles the sentence out decides
        ("When did Dedov serve in Islamabad?", "He later served in Islamabad from 2013. [1]"),
        ("Where did Dedov serve before Islamabad?", "Dedov previously served in Tehran from 2004. [1]"),
        # the kind of answer asked for is there: a name beside the asked-for noun
        ("Which envoy visited Tehran?", REFUSAL),  # "The special envoy visited Tehran": no name
        ("Which Iranian films will be shown at the ceremony?", REFUSAL),  # films mentioned, none named
        ("How much did Oman pay for the talks?", REFUSAL),  # no amount anywhere
        ("Who won the 2022 football World Cup?", REFUSAL),  # nothing about it
        ("What did Putin say about Oman?", REFUSAL),  # Oman is there, but nothing Putin said
        # an article says what it reports, quoted or not
        (
            "What did the Envoy Interview article say about Oman?",
            "“Oman’s mediation has been highly active and positive,” Dedov added. [1]",
        ),
    ],
)
def test_answers_and_refusals(question: str, answer: str) -> None:
    got = ExtractiveAnswerer().answer(question, ALL)
    assert got.text == answer
    assert got.refused is (answer == REFUSAL)


def test_stems_and_sentences_the_index_stored_for_a_passage_answer_as_its_text_does() -> None:
    """The answerer reads a passage's stored stems and sentences (as an index holds them, `PassageAnalysis`)
    instead of splitting and stemming its text again: the same answers, refusals and scores either way."""
    from rag.index.analysis import PassageAnalysis, encode_sentences, encode_stems

    records = {p.chunk.chunk_id: (encode_stems(p.chunk.text), encode_sentences(p.chunk.text)) for p in ALL}
    for question in ("What did Dedov say about Oman?", "When was the treaty signed?", "Which envoy visited Tehran?"):
        stored = ExtractiveAnswerer(analysis=PassageAnalysis(records.__getitem__))
        computed = ExtractiveAnswerer()
        assert stored.answer(question, ALL) == computed.answer(question, ALL)
        assert stored._score(question, ALL) == computed._score(question, ALL)


def test_citations_quote_the_passage_exactly() -> None:
    got = ExtractiveAnswerer().answer("When was the treaty signed?", ALL)
    assert [(c.n, c.doc_id, c.start, c.end, c.paragraphs) for c in got.citations] == [(1, "seed", 138, 221, (3,))]
    assert got.citations[0].text == ARTICLE[138:221]
    assert got.passages == tuple(ALL)


def test_refusal_cites_nothing() -> None:
    got = ExtractiveAnswerer().answer("Who won the 2022 football World Cup?", ALL)
    assert (got.text, got.refused, got.citations) == (REFUSAL, True, ())


def test_no_passages_is_a_refusal() -> None:
    assert ExtractiveAnswerer().answer("What did Dedov say about Oman?", []).text == REFUSAL


def test_two_sentences_of_one_passage_share_one_marker() -> None:
    text = "Ferries sailed at dawn. The harbour reopened at noon."
    found = [Passage(Chunk("h:0", "h", text, 0, len(text), (1,)), score=1.0)]
    got = ExtractiveAnswerer().answer("Did ferries sail and the harbour reopen?", found)
    assert got.text == "Ferries sailed at dawn. The harbour reopened at noon. [1]"


def test_a_sentence_opening_with_a_pronoun_is_read_with_the_one_before() -> None:
    got = ExtractiveAnswerer().answer("Did Dedov serve in Tehran and in Islamabad?", passages(4))
    assert got.text == "He later served in Islamabad from 2013. [1]"  # "He" is Dedov: it covers the whole question


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("When was the treaty signed?", Expectation("date")),
        ("On what date did the E3 announce it?", Expectation("date")),
        ("How long did he serve in Islamabad?", Expectation("duration", time_count=True)),
        ("How many years passed between them?", Expectation("number", time_count=True)),
        ("How many people attended?", Expectation("number")),
        ("What was the total value of the trade?", Expectation("number")),
        ("What percentage of the trade is oil?", Expectation("number")),
        ("Where was it signed?", Expectation("place")),
        ("Which Russian city will host the days?", Expectation("place")),
        ("Who signed the treaty?", Expectation("person")),
        ("Who is Alexey Dedov?", Expectation()),  # asks for a description, not a name
        # a name beside the role, in a sentence or passage that says all the role is
        (
            "Who is the Russian foreign minister?",
            Expectation("person", ("minister",), role=("foreign", "minister", "russian")),
        ),
        ("Which news agency did he talk to?", Expectation("name", ("agency",))),
        ("In which sectors do they cooperate?", Expectation("list", ("sector",))),
        ("What is the name of Oman's special representative?", Expectation("name", ("representativ",))),
        ("Why does Russia reject the restrictions?", Expectation()),
        ("What did Dedov say about Oman?", Expectation()),
    ],
)
def test_expectation(question: str, expected: Expectation) -> None:
    assert expectation(question) == expected


@pytest.mark.parametrize(
    ("question", "sentence", "expected"),
    [
        ("Which news agency did he talk to?", "Dedov told Fars News Agency in an interview.", True),
        ("Which Iranian films will be shown?", "The ceremony opens with Iranian films taking part.", False),
        ("Which units are being built?", "The second and third units are being built.", True),  # ordinals
        ("In which sectors do they cooperate?", "They work in defense, energy, finance and culture.", True),  # a list
        ("What is the name of the envoy?", "Oman’s special envoy visited Tehran.", False),
        ("Where was it signed?", "It was signed on January 17, 2025, in Russia.", True),
        ("Where was it signed?", "It was signed by Vladimir Putin.", False),  # a name, but no place
        ("Which Russian city hosts the days?", "The days are planned in Russia next year.", False),  # Russia is asked
        ("Who signed the treaty?", "It was signed by Presidents Vladimir Putin and Masoud Pezeshkian.", True),
        ("When did the E3 announce it?", "A day later, the E3 announced it.", True),  # a relative date
        ("How many people attended?", "A delegation attended in 2024.", False),  # a year is no head count
        ("How many years passed?", "It was signed in 2015 and left in 2018.", True),
        ("How many films take part?", "Moscow hosts the first ceremony with films taking part.", False),  # ordinal
        ("Who is the foreign minister?", "Iran’s Minister of Culture, Seyed Salehi, attended.", False),  # whose
        ("Who is the Russian ambassador?", "Russian Ambassador Alexey Dedov spoke.", True),
        ("Who is the minister of Iran?", "Iran’s Minister of Culture attended.", False),  # "of" is no name
        ("Who is the ambassador?", "The ambassador spoke; Dedov did not.", False),  # a role needs its name beside it
    ],
)
def test_fits(question: str, sentence: str, expected: bool) -> None:
    known = {w.lower().strip("?’'s") for w in question.split()}
    assert fits(sentence, expectation(question), known) is expected


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What did Dedov say about Oman?", ("Dedov", "Oman")),
        ("What has the Russian ambassador said on sanctions?", ("the Russian ambassador", "sanctions")),
        ("What did he say?", ("he", "")),
        ("When was the treaty signed?", None),
    ],
)
def test_parse_speaker(question: str, expected: tuple[str, str] | None) -> None:
    assert parse_speaker(question) == expected


def test_a_role_is_answered_only_where_all_of_it_is_said() -> None:
    # the sentence names presidents, but nothing around it says "of China"
    text = "Signed on January 17, 2025, by Presidents Vladimir Putin and Masoud Pezeshkian, the treaty is in force."
    found = [Passage(Chunk("t:0", "t", text, 0, len(text), (1,), "Treaty signed", "Wire"), score=1.0)]
    answerer = ExtractiveAnswerer()
    assert answerer.answer("Who is the president of China?", found).text == REFUSAL
    assert answerer.answer("Who is the president of Russia?", found).text == REFUSAL
    assert answerer.answer("Who signed the treaty?", found).text == f"{text} [1]"


# --- questions of several parts, across articles and outlets ---------------------------------------------------
HARBOUR = "The harbour reopened after the storm on Monday. Crews cleared the quay."
FARES = "Ferry fares rose by ten percent this winter. Operators blamed fuel costs."
OTHER = "Ferry fares were frozen on the island, the council said. The harbour stayed shut."


def article_passage(doc_id: str, text: str, source: str) -> Passage:
    return Passage(Chunk(f"{doc_id}:0", doc_id, text, 0, len(text), (1,), f"{doc_id} story", source), score=1.0)


def test_each_part_is_answered_from_the_outlet_it_names() -> None:
    question = (
        "Does the Alpha News article say that the harbour reopened after the storm on Monday, "
        "while the Beta Times article reports that ferry fares rose by ten percent this winter?"
    )
    found = [
        article_passage("c", OTHER, "Gamma Post"),
        article_passage("a", HARBOUR, "Alpha News"),
        article_passage("b", FARES, "Beta Times"),
    ]
    got = ExtractiveAnswerer().answer(question, found)
    assert (
        got.text
        == "The harbour reopened after the storm on Monday. [1] Ferry fares rose by ten percent this winter. [2]"
    )
    assert [c.doc_id for c in got.citations] == ["a", "b"]


def test_every_outlet_a_question_names_is_cited_even_in_a_part_of_its_own() -> None:
    # the last part names two outlets and nothing else: each is read for the whole question
    question = (
        "Which ferry operators blamed fuel costs after ferry fares rose by ten percent this winter, "
        "as reported by both Beta Times and Delta Daily?"
    )
    fares_too = "Fuel costs pushed ferry fares up by ten percent this winter, operators said."
    found = [article_passage("b", FARES, "Beta Times"), article_passage("d", fares_too, "Delta Daily")]
    got = ExtractiveAnswerer().answer(question, found)
    assert [c.doc_id for c in got.citations] == ["b", "d"]
    assert got.text == f"Ferry fares rose by ten percent this winter. [1] {fares_too} [2]"


def test_a_long_question_nothing_covers_is_refused() -> None:
    question = (
        "Does the Alpha News article say that the mayor opened a new library downtown on Friday, "
        "while the Beta Times article reports that the museum extended its opening hours for students?"
    )
    found = [article_passage("a", HARBOUR, "Alpha News"), article_passage("b", FARES, "Beta Times")]
    assert ExtractiveAnswerer().answer(question, found).text == REFUSAL


def test_a_pools_coverages_are_the_same_floats_as_one_passage_at_a_time() -> None:
    # the vector sums that answer a long question quickly must not move a tie: bit for bit the same values
    from rag.answer.parts import _candidates, _Pool
    from rag.index.analysis import PassageAnalysis

    found = [*ALL, article_passage("a", HARBOUR, "Alpha News"), article_passage("b", FARES, "Beta Times")]
    analysis = PassageAnalysis()
    pool = _Pool(_candidates(found, list(dict.fromkeys(p.chunk.doc_id for p in found)), analysis), analysis)
    held = [frozenset(stems(p.chunk.text)) for p in found]
    for text in ["Dedov served in Tehran and Islamabad", "harbour storm ferry fares winter Oman talks", "nothing"]:
        weights = pool.weights(text)
        assert [list(pool.holding(s)) for s in weights] == [[s in h for h in held] for s in weights]
        assert pool.coverages(weights).tolist() == [weights.coverage(h) for h in held]
    assert any(v > 0 for v in pool.coverages(pool.weights("Dedov served in Tehran and Islamabad")))
