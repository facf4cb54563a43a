"""The structured-output panel: run a schema, see it validated, export it, cancel it."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest

from assistant.app import load_engine
from assistant.engine.fake import ScriptedEngine
from assistant.gui.structured import SourceMode, csv_table, flatten
from assistant.gui.structured_panel import ERROR_COLOUR, VALID_COLOUR, StructuredPanel
from tests.gui.conftest import wait_import

pytestmark = pytest.mark.gui

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "age": {"type": "integer", "minimum": 0, "maximum": 130},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
        },
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age"],
}
ALICE = {"name": "Alice Smith", "age": 34, "address": {"city": "Oslo", "zip": "0150"},
         "tags": ["pilot", "engineer"]}  # fmt: skip


def _panel(window, schema: dict, question: str = "", mode=SourceMode.NONE) -> StructuredPanel:
    panel = window.structured
    window.commands.show_structured.trigger()
    assert window.tabs.currentWidget() is panel
    panel.set_schema_text(json.dumps(schema))
    panel.set_source(mode)
    panel.question.setText(question)
    return panel


def _run(qtbot, panel: StructuredPanel, timeout: int = 20_000) -> None:
    with qtbot.waitSignal(panel.finished, timeout=timeout):
        assert panel.run() is not None
    assert not panel.running


def _tree(panel: StructuredPanel) -> dict[str, tuple[str, str]]:
    items = (panel.tree.topLevelItem(i) for i in range(panel.tree.topLevelItemCount()))
    return {item.text(0): (item.text(1), item.text(2)) for item in items}


def test_a_valid_answer_shows_the_mark_and_the_tree(qtbot, make_window, crashes):
    engine = ScriptedEngine().enqueue(json.dumps(ALICE))
    window = make_window(engine)
    panel = _panel(window, PERSON, "Alice Smith, 34, lives at 0150 Oslo; pilot and engineer.")
    assert panel.example.currentText() == "Custom schema"
    _run(qtbot, panel)

    assert panel.status_label.text().startswith("✔ Valid")
    assert VALID_COLOUR in panel.status_label.styleSheet()
    rows = _tree(panel)
    assert rows["name"][0] == "Alice Smith"
    assert rows["age"][0] == "34"
    address = panel.tree.topLevelItem(2)
    assert (address.child(0).text(0), address.child(0).text(1)) == ("city", "Oslo")
    assert panel.tree.topLevelItem(3).childCount() == 2
    assert panel.export_json_button.isEnabled()
    assert len(engine.calls) == 1
    assert "Alice Smith, 34" in engine.calls[0].messages[-1].content
    assert crashes == []


def test_an_answer_that_never_validates_shows_the_error_after_the_retry(qtbot, make_window):
    bad = json.dumps({"name": "Alice", "age": "thirty-four"})
    engine = ScriptedEngine().enqueue(bad, bad)
    window = make_window(engine)
    panel = _panel(window, PERSON, "Alice is thirty-four.")
    _run(qtbot, panel)

    assert len(engine.calls) == 2  # the first attempt and the one retry
    text = panel.status_label.text()
    assert text.startswith("✖")
    assert "after 2 attempts" in text
    assert "'thirty-four' is not of type 'integer'" in text
    assert ERROR_COLOUR in panel.status_label.styleSheet()
    assert panel.outcome is None
    assert not panel.export_json_button.isEnabled()
    assert _tree(panel)["(last output)"][0] == bad


@pytest.mark.parametrize(
    ("schema_text", "message"),
    [
        ('{"type": "object", "properties": {', "not valid JSON"),
        ('{"type": "objekt"}', "not a valid JSON Schema"),
        ('{"type": "object", "properties": {"a": {"not": {"type": "string"}}}}',
         "'not' at #/properties/a/not"),
    ],
    ids=["json-syntax", "not-a-schema", "unsupported-keyword"],
)  # fmt: skip
def test_an_invalid_schema_is_refused_before_anything_runs(
    qtbot, make_window, schema_text, message
):
    engine = ScriptedEngine()
    window = make_window(engine)
    panel = _panel(window, {}, "Anything.")
    panel.set_schema_text(schema_text)
    if panel.run() is not None:  # the quick check passed; the worker refuses the rest
        qtbot.waitUntil(lambda: not panel.running, timeout=20_000)
    assert message in panel.error
    assert panel.status_label.text().startswith("✖")
    assert engine.calls == []  # the model was never asked


def test_documents_fill_a_form_with_a_citation_per_field(qtbot, make_window, knowledge, tmp_path):
    report = tmp_path / "incident.txt"
    report.write_text(
        "Incident log.\n\nOn 2024-03-05 a radar mast in Tromso was damaged by ice. "
        "Ingrid Halvorsen reported it.\n"
    )
    window = make_window(knowledge=knowledge)
    window.library.import_paths([report])
    wait_import(qtbot, window)
    window.library.table.selectRow(0)
    form = {"type": "object", "properties": {"date": {"type": "string", "format": "date"},
            "location": {"type": "string"}}, "required": ["date", "location"]}  # fmt: skip
    window.engine.enqueue(json.dumps(
        {"values": {"date": "2024-03-05", "location": "Tromso"},
         "citations": {"date": 1, "location": 1}}))  # fmt: skip
    panel = _panel(window, form, mode=SourceMode.DOCUMENTS)
    _run(qtbot, panel)

    assert panel.status_label.text().startswith("✔ Valid"), panel.status_label.text()
    rows = _tree(panel)
    assert rows["date"] == ("2024-03-05", "[1] incident.txt")
    assert "radar mast in Tromso" in panel.tree.topLevelItem(1).toolTip(2)
    assert "Ingrid Halvorsen reported it" in window.engine.calls[-1].messages[-1].content

    # The same form from a search of the collection, with a question.
    panel.set_source(SourceMode.COLLECTION)
    assert panel.collection.currentText() == "default"
    panel.question.setText("Where was the radar mast damaged?")
    answer = {
        "values": {"date": "2024-03-05", "location": "Tromso"},
        "citations": {"date": 1, "location": 1},
    }
    window.engine.enqueue(json.dumps(answer))
    _run(qtbot, panel)
    assert panel.status_label.text().startswith("✔ Valid"), panel.status_label.text()
    assert _tree(panel)["location"] == ("Tromso", "[1] incident.txt")
    assert "Where was the radar mast damaged?" in window.engine.calls[-1].messages[-1].content


def test_documents_mode_needs_a_selection(make_window, knowledge):
    window = make_window(knowledge=knowledge)
    panel = _panel(window, PERSON, mode=SourceMode.DOCUMENTS)
    assert panel.run() is None
    assert "Select one or more documents" in panel.error


def test_export_writes_json_and_flattened_csv(qtbot, make_window, tmp_path):
    window = make_window(ScriptedEngine().enqueue(json.dumps(ALICE)))
    panel = _panel(window, PERSON, "Alice.")
    _run(qtbot, panel)

    panel.export_json(tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8")) == ALICE
    panel.export_csv(tmp_path / "out.csv")
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        ["name", "age", "address.city", "address.zip", "tags"],
        ["Alice Smith", "34", "Oslo", "0150", '["pilot", "engineer"]'],
    ]


def test_csv_flattening_of_arrays_of_objects_and_scalars():
    assert flatten({"a": {"b": {"c": None}}, "d": True, "e": {}}) == {
        "a.b.c": "", "d": "true", "e": "{}"}  # fmt: skip
    assert csv_table([{"x": 1}, {"y": [1, 2]}]) == (["x", "y"], [["1", ""], ["", "[1, 2]"]])
    assert csv_table("plain") == (["value"], [["plain"]])


def test_cancel_stops_the_run(qtbot, make_window):
    engine = ScriptedEngine(token_delay=0.05).enqueue(json.dumps({"name": "x " * 200, "age": 1}))
    window = make_window(engine)
    panel = _panel(window, PERSON, "Someone.")
    panel.run()
    qtbot.waitUntil(lambda: bool(engine.calls), timeout=20_000)
    with qtbot.waitSignal(panel.finished, timeout=10_000):
        panel.cancel_button.click()
    assert panel.status_label.text() == "Cancelled."
    assert panel.outcome is None
    assert panel.run_button.isEnabled()


def test_examples_load_and_name_the_choice(make_window):
    panel = make_window().structured
    titles = [panel.example.itemText(i) for i in range(panel.example.count())]
    assert {"Incident report", "Invoice", "Entities", "Custom schema"} <= set(titles)
    panel.choose_example("Invoice")
    assert '"currency"' in panel.schema_edit.toPlainText()
    assert panel.example.currentText() == "Invoice"
    panel.schema_edit.insertPlainText(" ")
    assert panel.example.currentText() == "Custom schema"


@pytest.mark.model
@pytest.mark.slow
def test_smollm2_fills_a_small_schema_and_it_is_valid(qtbot, make_window, smol_path):
    def real_loader(settings):
        model = replace(settings.model, path=str(smol_path), context_size=2048, threads=2)
        return load_engine(replace(settings, model=model))

    window = make_window(loader=real_loader)
    schema = {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 30},
        "city": {"type": "string", "maxLength": 30},
        "age": {"type": "integer", "minimum": 0, "maximum": 120}},
        "required": ["name", "city", "age"], "additionalProperties": False}  # fmt: skip
    panel = _panel(window, schema, "Alice Smith is 34 years old and lives in Oslo.")
    _run(qtbot, panel, timeout=120_000)
    assert panel.status_label.text().startswith("✔ Valid"), panel.status_label.text()
    assert set(_tree(panel)) == {"name", "city", "age"}


def test_documents_fill_a_grounded_form_whose_values_show_and_open_their_spans(
    qtbot, make_window, knowledge, tmp_path
):
    report = tmp_path / "incident.txt"
    report.write_text(
        "Incident log.\n\nOn 2024-03-05 a radar mast in Tromso was damaged by ice. "
        "Ingrid Halvorsen reported it.\n"
    )
    window = make_window(ScriptedEngine(supports_llguidance=True), knowledge=knowledge)
    window.library.import_paths([report])
    wait_import(qtbot, window)
    window.library.table.selectRow(0)
    form = {"type": "object", "properties": {"date": {"type": "string", "format": "date"},
            "reporter": {"type": "string"}, "witness": {"type": "string"}},
            "required": ["date"]}  # fmt: skip
    window.engine.enqueue(
        json.dumps({"date": "2024-03-05", "reporter": "Ingrid Halvorsen", "witness": None})
    )
    panel = _panel(window, form, mode=SourceMode.DOCUMENTS)
    assert panel.grounded.isChecked()
    assert panel.grounded.isEnabled()
    _run(qtbot, panel)

    status = panel.status_label.text()
    assert status.startswith("✔ Valid"), status
    assert "2 value(s) copied" in status
    grammar = window.engine.calls[-1].options.grammar
    assert grammar is not None
    assert "substring_words" in grammar.lark
    rows = _tree(panel)
    assert rows["reporter"] == ("Ingrid Halvorsen", "“Ingrid Halvorsen” — incident.txt")
    assert rows["witness"] == ("", "not in the documents")  # left out, never made up
    assert "witness" not in panel.outcome.data

    opened = []
    panel.evidence_opened.connect(lambda citation, quote: opened.append((citation, quote)))
    reporter = next(panel.tree.topLevelItem(i) for i in range(panel.tree.topLevelItemCount())
                    if panel.tree.topLevelItem(i).text(0) == "reporter")  # fmt: skip
    panel.tree.itemActivated.emit(reporter, 0)
    ((citation, quote),) = opened
    assert citation.document_name == "incident.txt"
    assert "radar mast" in citation.quote
    assert quote.verified
    assert citation.quote[quote.start : quote.end] == "Ingrid Halvorsen"

    panel.export_csv(tmp_path / "out.csv")
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        header, row = list(csv.reader(handle))
    assert header[:4] == ["date", "date.document", "date.page", "date.span"]
    assert row[header.index("reporter.span")] == "Ingrid Halvorsen"
    panel.export_json(tmp_path / "plain.json")
    assert json.loads((tmp_path / "plain.json").read_text())["reporter"] == "Ingrid Halvorsen"
    panel.with_evidence.setChecked(True)
    panel.export_json(tmp_path / "with.json")
    both = json.loads((tmp_path / "with.json").read_text())
    assert both["record"]["date"] == "2024-03-05"
    assert both["evidence"]["date"]["span"] == "2024-03-05"

    # Copying off: the model writes the values and cites a source per field.
    panel.grounded.setChecked(False)
    window.engine.enqueue(json.dumps({"values": {"date": "2024-03-05", "reporter": "Ingrid"},
                                      "citations": {"date": 1, "reporter": 1}}))  # fmt: skip
    _run(qtbot, panel)
    assert _tree(panel)["reporter"] == ("Ingrid", "[1] incident.txt")
    assert not window.engine.calls[-1].options.grammar.lark


def test_a_grounded_form_missing_a_required_field_says_which(
    qtbot, make_window, knowledge, tmp_path
):
    note = tmp_path / "note.txt"
    note.write_text("The office is closed on public holidays.\n")
    window = make_window(ScriptedEngine(supports_llguidance=True), knowledge=knowledge)
    window.library.import_paths([note])
    wait_import(qtbot, window)
    window.library.table.selectRow(0)
    window.engine.enqueue(json.dumps({"manager": None}))
    form = {"type": "object", "properties": {"manager": {"type": "string"}},
            "required": ["manager"]}  # fmt: skip
    panel = _panel(window, form, mode=SourceMode.DOCUMENTS)
    _run(qtbot, panel)
    assert "do not state the required field(s) manager" in panel.status_label.text()
    assert ERROR_COLOUR in panel.status_label.styleSheet()
    assert not panel.export_json_button.isEnabled()
