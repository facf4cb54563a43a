"""Grounded answers: quotes checked against their passage, grammars that allow only real quotes,
attribution of an answer to the sentence that says it, and the checks that stop an answer the
sources do not back."""

from __future__ import annotations

import json

import llguidance
import pytest

from assistant.knowledge import grounded
from assistant.knowledge.attribution import attribute, missing_specifics, specific_words
from assistant.knowledge.grounded import (
    QuoteUnit,
    answer_grammar,
    citation_grammar,
    flatten,
    parse_reply,
    quote_chunks,
    says_not_in_documents,
    sentences,
    verify_quote,
)
from assistant.knowledge.terms import TermWeights, coverage

PASSAGE = (
    "4. Budget and investment\nThe plant's operating budget for 2025 was 9.6 million euros, of "
    "which chemicals took 2.1 million and\nelectricity 3.4 million. The main capital project is a "
    "new ultraviolet disinfection stage, contracted to Halden Aqua AS in November 2025."
)


def test_a_quote_is_verified_against_the_passage_as_stored_line_breaks_and_all() -> None:
    quote = verify_quote(
        2, "of which chemicals took 2.1 million and electricity 3.4 million.", PASSAGE
    )
    assert quote.verified
    assert quote.source == 2
    # the offsets point into the passage as stored, across its line break
    assert flatten(PASSAGE[quote.start : quote.end]) == quote.text
    assert PASSAGE[quote.start : quote.end].startswith("of which")
    assert "\n" in PASSAGE[quote.start : quote.end]


@pytest.mark.parametrize(
    "invented",
    [
        "The operating budget for 2025 was 9.7 million euros.",  # one figure changed
        "contracted to Halden Aqua ASA",  # one letter added
        "",
        "   ",
    ],
)
def test_a_quote_that_is_not_in_the_passage_is_not_verified(invented: str) -> None:
    quote = verify_quote(1, invented, PASSAGE)
    assert not quote.verified
    assert quote.start == quote.end == -1


def test_quote_pieces_are_whole_sentences_that_join_back_to_the_text() -> None:
    text = flatten(
        "This procedure is owned by the chief pharmacist, Dr. Amara Osei. It is reviewed "
        "every two years; the next review is due on 1 September 2026. Questions go to the "
        "secretary."
    )
    pieces = quote_chunks(text)
    assert "".join(pieces) == text
    assert sentences(text) == [
        "This procedure is owned by the chief pharmacist, Dr. Amara Osei.",  # "Dr." kept
        "It is reviewed every two years; the next review is due on 1 September 2026.",
        "Questions go to the secretary.",
    ]
    words = quote_chunks("one two  three", QuoteUnit.WORD)
    assert "".join(words) == "one two  three"
    assert "two" in words


def test_a_long_sentence_is_also_cut_into_clauses() -> None:
    long = (
        "Treated water is pumped to four service reservoirs across the district and the "
        "neighbouring towns, the largest of which, Hollin Hill, holds eighteen million litres "
        "and feeds the northern half of the network during the summer months."
    )
    pieces = [p for p in quote_chunks(long) if not p.isspace()]
    assert len(pieces) > 1
    assert all(p.endswith((",", ".")) for p in pieces)


@pytest.mark.parametrize(
    ("reply", "answer", "source", "quote", "abstained"),
    [
        (
            'Quote: "The rent was 900 dollars." [2]\nAnswer: It was 900 dollars [2].',
            "It was 900 dollars [2].", 2, "The rent was 900 dollars.", False,
        ),
        ("Answer: The documents do not say.", "The documents do not say.", None, "", True),
        ('Quote: "The rent was', "", None, "The rent was", False),
    ],
)  # fmt: skip
def test_a_quote_first_reply_is_read_back_into_its_parts(
    reply: str, answer: str, source: int | None, quote: str, abstained: bool
) -> None:
    parsed = parse_reply(reply)
    assert (parsed.answer, parsed.quote_source, parsed.quote, parsed.abstained) == (
        answer,
        source,
        quote,
        abstained,
    )


def test_a_reply_without_the_shape_is_kept_whole() -> None:
    parsed = parse_reply("It was 900 dollars [1].")
    assert not parsed.shaped
    assert parsed.answer == "It was 900 dollars [1]."


@pytest.mark.parametrize(
    "text",
    [
        "The documents do not say.",
        "The sources do not mention who the treasurer is.",
        "The top speed during the survey was not provided in the given text.",
        "There is no information about Saturdays in the documents.",
    ],
)
def test_the_usual_ways_of_saying_the_documents_do_not_say_are_recognised(text: str) -> None:
    assert says_not_in_documents(text)


def test_an_answer_is_not_mistaken_for_an_abstention() -> None:
    assert not says_not_in_documents("The budget for 2025 was 9.6 million euros [1].")
    assert not says_not_in_documents("The pump did not fail again after March [2].")


def _matcher(lark: str) -> llguidance.LLMatcher:
    tokenizer = llguidance.LLTokenizer("byte")  # one token per byte: checks text, not a model
    return llguidance.LLMatcher(tokenizer, llguidance.grammar_from("lark", lark), log_level=0)


def _accepts(lark: str, text: str) -> bool:
    matcher = _matcher(lark)
    tokenizer = llguidance.LLTokenizer("byte")
    for token in tokenizer.tokenize_str(text):
        if not matcher.consume_token(token):
            return False
    return matcher.is_accepting()


SOURCES = [(1, "The rent for 2022 was 900 dollars. It is paid monthly."), (2, PASSAGE)]


@pytest.mark.parametrize(
    ("reply", "accepted"),
    [
        ('Quote: "The rent for 2022 was 900 dollars." [1]\nAnswer: 900 dollars [1].', True),
        ('Quote: "It is paid monthly." [1]\nAnswer: Monthly [1]', True),
        # the number must be the quoted source's: the words decide it
        ('Quote: "The rent for 2022 was 900 dollars." [2]\nAnswer: 900 dollars [2].', False),
        # an invented or altered quote is impossible
        ('Quote: "The rent for 2023 was 900 dollars." [1]\nAnswer: 900 dollars [1].', False),
        # half a sentence is not a quote
        ('Quote: "900 dollars." [1]\nAnswer: 900 dollars [1].', False),
        ('Quote: "The rent for 2022 was 900 dollars." [1]\nAnswer: 900 dollars [3].', False),
        ("Answer: The documents do not say.", True),
        ("The documents do not say.", False),
    ],
)
def test_the_quote_first_grammar_allows_only_whole_clauses_of_the_source_it_names(
    reply: str, accepted: bool
) -> None:
    assert _accepts(answer_grammar(SOURCES), reply) is accepted


def test_word_quotes_may_start_and_end_on_any_word() -> None:
    lark = answer_grammar(SOURCES, unit=QuoteUnit.WORD)
    assert _accepts(lark, 'Quote: "900 dollars." [1]\nAnswer: 900 dollars [1].')
    assert not _accepts(lark, 'Quote: "900 euros." [1]\nAnswer: 900 dollars [1].')


def test_the_citation_grammar_allows_only_numbers_of_sources_given() -> None:
    lark = citation_grammar([1, 2])
    assert _accepts(lark, "It was 900 dollars [1][2], paid monthly [2].")
    assert not _accepts(lark, "It was 900 dollars [3].")
    assert not _accepts(lark, "It was 900 dollars [source 1].")


def test_a_quote_alternative_holds_the_source_text_verbatim_even_with_quotes_in_it() -> None:
    lark = answer_grammar([(1, 'The sign said "no entry" at the gate.')])
    assert _accepts(lark, 'Quote: "The sign said "no entry" at the gate." [1]\nAnswer: No [1].')
    line = next(line for line in lark.splitlines() if line.startswith("QUOTE1"))
    pieces = json.loads(line.split("%regex", 1)[1])["substring_chunks"]
    assert "".join(pieces) == 'The sign said "no entry" at the gate.'


def test_grounded_imports_only_the_standard_library() -> None:
    assert grounded.__doc__
    assert "standard library" in grounded.__doc__


# --- terms and attribution ---------------------------------------------------------------------


def test_coverage_matches_inflections_and_weighs_rare_words_more() -> None:
    terms = ["retained", "files", "wierzbicki"]
    text = "Personnel files are retained for seven years; ask Tomasz Wierzbicki."
    assert coverage(terms, text) == pytest.approx(1.0)
    weights = TermWeights.from_counts({"retained": 30, "files": 40, "wierzbicki": 1}, total=50)
    only_the_name = "Tomasz Wierzbicki approved it."
    assert coverage(terms, only_the_name, weights) > 0.5  # the rare name carries the question
    assert coverage(terms, only_the_name) == pytest.approx(1 / 3)


def test_codes_and_figures_are_matched_as_written() -> None:
    assert coverage(["ab-1234/x"], "Order valve AB-1234/X from Bergen.") == 1.0
    assert coverage(["cp-7"], "Pump CP-8 failed.") == 0.0


def test_attribution_quotes_the_sentence_that_says_what_the_answer_adds() -> None:
    sources = [
        (1, "Kestrel Bay Water Treatment Plant report. The plant was commissioned in 1998 and "
            "draws water from Lake Ardra."),
        (2, "The plant's design capacity is 62 million litres per day."),
    ]  # fmt: skip
    found = attribute(
        "The Kestrel Bay Water Treatment Plant was commissioned in 1998 [1].",
        "When was the Kestrel Bay water treatment plant commissioned?",
        sources,
    )
    assert found is not None
    assert (found.source, found.text) == (
        1,
        "The plant was commissioned in 1998 and draws water from Lake Ardra.",
    )
    assert found.support == pytest.approx(1.0)
    assert found.specifics_held == pytest.approx(1.0)


def test_an_invented_figure_has_no_support() -> None:
    found = attribute(
        "The top speed was 15 knots [1].",
        "What was the vessel's top speed?",
        [(1, "The vessel departed Oban at 06:15 with a crew of nine.")],
    )
    assert found is not None
    assert found.specifics_held == 0.0
    assert found.support < 0.35


def test_a_question_about_another_year_or_day_is_not_answered_by_the_passage() -> None:
    evidence = "report-2025.pdf\n\nThe operating budget for 2025 was 9.6 million euros."
    assert missing_specifics("What was the operating budget for 2024?", evidence) == ["2024"]
    assert missing_specifics("What was the operating budget for 2025?", evidence) == []
    hours = "The reading room is open Monday to Thursday, and on Fridays it closes at 16:30."
    assert missing_specifics("When does it open on Saturdays?", hours) == ["Saturdays"]
    # codes are matched in the document's file name too; names are not checked at all
    name = "riverside-sop-114-medication-storage.docx\nThe next review is due in 2026."
    assert missing_specifics("When is the next review of SOP-114 due?", name) == []
    assert missing_specifics("When does the UV stage open?", "The ultraviolet stage...") == []


def test_specific_words_are_figures_days_months_and_names_not_sentence_starts() -> None:
    words = specific_words("On Fridays Helen Marsh closes at 16:30 [2]. The archive shuts in May.")
    assert words == ["Fridays", "Helen", "Marsh", "16:30", "May"]
    assert specific_words("Ask Helen Marsh on Friday.", names=False) == ["Friday"]
