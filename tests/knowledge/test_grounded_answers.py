"""Answers from documents with the scripted engine: the quote under the answer, the support
checks, abstention, the quote-first format, and what is saved with the conversation."""

from __future__ import annotations

from pathlib import Path

from assistant.chat.session import ChatService
from assistant.chat.store import ConversationStore
from assistant.engine.base import GenerationOptions
from assistant.engine.fake import ScriptedEngine
from assistant.knowledge import SearchHit
from assistant.knowledge.answer import AnswerFormat, AnswerSettings, answer, build_messages

BUDGET = (
    "4. Budget and investment\nThe plant's operating budget for 2025 was 9.6 million euros, of "
    "which chemicals took 2.1 million and electricity 3.4 million. The main capital project is "
    "a new ultraviolet disinfection stage, contracted to Halden Aqua AS in November 2025."
)
OUTPUT = (
    "2. Capacity and output\nThe plant's design capacity is 62 million litres per day. Average "
    "daily output in 2025 was 41.3 million litres, slightly above the year before."
)


def passage(n: int, text: str, *, page: int, name: str = "report-2025.pdf") -> SearchHit:
    return SearchHit(
        chunk_id=f"c{n}", document_id="d1", document_name=name, path=Path(f"/docs/{name}"),
        collection="default", page=page, heading="", text=text, char_start=100 * n,
        char_end=100 * n + len(text), score=1.0 / (60 + n), dense_rank=n, dense_similarity=0.6,
    )  # fmt: skip


HITS = [passage(1, OUTPUT, page=2), passage(2, BUDGET, page=4)]


def test_the_answer_comes_with_the_sentence_that_says_it_verbatim() -> None:
    engine = ScriptedEngine().enqueue("The operating budget for 2025 was 9.6 million euros [2].")
    result = answer("What was the operating budget for 2025?", HITS, engine)
    assert result.answered
    assert result.supported is True
    (quote,) = result.quotes
    assert quote.source == 2
    assert quote.verified
    assert quote.text == (
        "The plant's operating budget for 2025 was 9.6 million euros, of which chemicals took "
        "2.1 million and electricity 3.4 million."
    )
    assert " ".join(BUDGET[quote.start : quote.end].split()) == quote.text
    assert result.citations[0].number == 2
    assert result.citations[0].cited


def test_the_quote_is_found_even_when_the_model_cites_the_wrong_number() -> None:
    engine = ScriptedEngine().enqueue("Average daily output was 41.3 million litres [2].")
    result = answer("What was the average daily output?", HITS, engine)
    assert result.quotes[0].source == 1  # the sentence is in source 1, whatever it cited
    assert [c.number for c in result.citations][0] == 1


def test_an_invented_figure_is_not_presented_as_from_the_documents() -> None:
    engine = ScriptedEngine().enqueue("The plant employs 212 engineers [1].")
    result = answer("How many engineers does the plant employ?", HITS, engine)
    assert result.supported is False
    assert not result.answered
    assert not result.quotes


def test_a_question_about_another_year_is_not_answered_from_this_one() -> None:
    engine = ScriptedEngine().enqueue("The operating budget for 2024 was 9.6 million euros [2].")
    result = answer("What was the operating budget for 2024?", HITS, engine)
    assert result.supported is False
    assert result.unmatched == ("2024",)
    assert not result.answered


def test_saying_the_documents_do_not_say_is_an_abstention_without_sources_listed() -> None:
    engine = ScriptedEngine().enqueue("The documents do not say who the treasurer is.")
    result = answer("Who is the treasurer?", HITS, engine)
    assert result.abstained
    assert not result.answered
    assert result.citations == ()
    assert result.quotes == ()


def test_the_citation_numbers_are_held_to_the_sources_by_a_grammar() -> None:
    engine = ScriptedEngine(supports_llguidance=True).enqueue("9.6 million euros [2].")
    answer("What was the budget?", HITS, engine)
    grammar = engine.calls[0].options.grammar
    assert grammar is not None
    assert '"[1]" | "[2]"' in grammar.lark
    assert "[3]" not in grammar.lark
    plain = ScriptedEngine().enqueue("9.6 million euros [2].")
    answer("What was the budget?", HITS, plain)
    assert plain.calls[0].options.grammar is None  # an engine without llguidance: free text


def test_quote_first_replies_are_read_and_their_quote_checked() -> None:
    settings = AnswerSettings(answer_format=AnswerFormat.QUOTE_FIRST)
    good = ScriptedEngine(supports_llguidance=True).enqueue(
        'Quote: "The plant\'s design capacity is 62 million litres per day." [1]\n'
        "Answer: 62 million litres a day [1]."
    )
    result = answer("What is the design capacity?", HITS, good, settings=settings)
    assert result.text == "62 million litres a day [1]."
    assert result.quotes[0].verified
    assert result.quotes[0].source == 1
    grammar = good.calls[0].options.grammar
    assert grammar is not None
    assert "substring_chunks" in grammar.lark
    assert "Quote:" in good.calls[0].messages[0].content  # the instructions ask for the shape
    # an engine that cannot enforce the grammar may invent: the check says so
    free = ScriptedEngine().enqueue(
        'Quote: "The design capacity is 70 million litres." [1]\nAnswer: 70 million [1].'
    )
    invented = answer("What is the design capacity?", HITS, free, settings=settings)
    assert invented.quotes
    assert not invented.quotes[0].verified


def test_the_sources_are_shown_to_the_model_as_windows_when_asked() -> None:
    long = passage(3, " ".join(f"Filler sentence number {i}." for i in range(40))
                   + " The valve AB-1234/X comes from Bergen.", page=7)  # fmt: skip
    engine = ScriptedEngine().enqueue("Bergen [1].")
    answer("Where does valve AB-1234/X come from?", [long], engine,
           settings=AnswerSettings(window_words=20))  # fmt: skip
    system = engine.calls[0].messages[0].content
    assert "The valve AB-1234/X comes from Bergen." in system
    assert "Filler sentence number 0." not in system


def test_the_conversation_keeps_the_answer_its_quotes_and_the_check(
    store: ConversationStore, tmp_path: Path
) -> None:
    class Library:
        def search(self, question: str, *, collection: str, top_k: int) -> list[SearchHit]:
            return HITS

    engine = ScriptedEngine().enqueue("The operating budget for 2025 was 9.6 million euros [2].")
    chat = ChatService(engine, store, system_prompt="", options=GenerationOptions())
    done = chat.ask_documents("What was the budget for 2025?", Library())  # type: ignore[arg-type]
    assert done.quotes[0].verified
    assert done.quotes[0].page == 4
    assert done.quotes[0].char_start == 200 + done.quotes[0].start  # into the document's text
    saved = store.messages(done.conversation_id)[-1]
    assert saved.content == "The operating budget for 2025 was 9.6 million euros [2]."
    assert saved.meta["quotes"][0]["text"].startswith("The plant's operating budget for 2025")
    assert saved.meta["supported"] is True
    assert saved.meta["abstained"] is False


def test_a_prompt_over_its_budget_shows_the_other_passages_as_windows() -> None:
    filler = " ".join(f"Routine sentence number {i} about nothing much." for i in range(30))
    hits = [
        passage(1, "The valve AB-1234/X comes from Bergen. " + filler, page=1),
        passage(2, filler + " The Bergen warehouse ships valves within six weeks.", page=2),
        passage(3, filler + " Valves are inspected every spring.", page=3),
    ]
    question = "Where does the valve AB-1234/X come from?"
    engine = ScriptedEngine(context_size=8192)
    whole, _ = build_messages(
        question, hits, engine, max_tokens=64, settings=AnswerSettings(prompt_budget=0)
    )
    roomy = engine.count_tokens(engine.render_chat(whole))
    messages, sources = build_messages(
        question, hits, engine, max_tokens=64, settings=AnswerSettings(prompt_budget=roomy // 2)
    )
    assert sources[0].text == hits[0].text  # the best passage stays whole
    assert all(len(s.text.split()) <= 80 for s in sources[1:])  # the others are windows
    assert "within six weeks" in messages[0].content  # around their best sentences
    assert engine.count_tokens(engine.render_chat(messages)) < roomy


def test_the_model_can_be_asked_whether_the_quoted_sentence_answers_the_question() -> None:
    settings = AnswerSettings(confirm_support=True)
    question = "What was the plant's capital budget for 2025?"
    reply = "The budget for 2025 was 9.6 million euros [2]."
    engine = ScriptedEngine().enqueue(reply, "no")
    result = answer(question, HITS, engine, settings=settings)
    assert result.supported is False  # the operating budget is not the capital budget
    assert not result.answered
    check = engine.calls[1]
    assert "Sentence: The plant's operating budget for 2025" in check.messages[-1].content
    assert check.options.grammar is not None
    assert check.options.grammar.lark.startswith('start: "yes" | "no"')
    assert check.options.max_tokens == 2

    engine = ScriptedEngine().enqueue(reply, "yes")
    assert answer(question, HITS, engine, settings=settings).supported is True
    engine = ScriptedEngine().enqueue(reply)
    assert answer(question, HITS, engine).supported is True  # off by default: one call
    assert len(engine.calls) == 1


def test_an_answer_about_a_thing_no_document_mentions_is_not_supported() -> None:
    from dataclasses import replace as with_fields

    from assistant.knowledge.terms import TermWeights

    fridge = (
        "Vaccines and insulin are kept in a medical refrigerator between 2 and 8 degrees "
        "Celsius. The temperature is logged twice a day."
    )
    # the full-text index counted the question's words: not one passage says "freezer"
    weights = TermWeights.from_counts({"vaccine": 1, "freezer": 0, "temperature": 1}, total=40)
    assert weights.absent == frozenset({"freezer"})
    hits = [with_fields(passage(1, fridge, page=1), term_weights=weights)]
    question = "At what temperature must the vaccine freezer be kept?"
    engine = ScriptedEngine().enqueue("The vaccine freezer is kept between 2 and 8 degrees [1].")
    result = answer(question, hits, engine)
    assert result.supported is False
    assert "freezer" in result.unmatched
    assert not result.answered
    # the same answer about what the documents do mention stands
    engine = ScriptedEngine().enqueue("Vaccines are kept between 2 and 8 degrees [1].")
    assert answer(question, hits, engine).supported is True
