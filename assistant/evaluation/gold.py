"""Gold sets: the questions, expected answers and expected sources an evaluation runs on.

A gold set is a JSONL file, one object per line (blank lines and lines starting with ``#`` are
skipped)::

    {"id": "rollback", "question": "Can I install an older model version?",
     "answer": "No, a version that is not newer is refused unless --force is given.",
     "source": "admin-guide.md", "passage": "A manifest whose version is not newer"}

``id`` (optional, default ``line-N``), ``question`` and ``answer`` are text. ``source`` (optional)
is the expected document's file name; ``passage`` (optional) is a phrase the expected passage
contains. Without ``source`` an item counts for answer scoring only.

For answer accuracy (:mod:`~assistant.evaluation.accuracy`) an item names its ``fact``: the short
span a right answer must contain, or a list of equivalent spans (``["ten years", "10 years"]``),
compared after :func:`normalize_fact`. An item with ``"unanswerable": true`` asks something the
documents do not hold; the right reply says so.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import EvaluationError

_DATA = Path(__file__).resolve().parent / "data"
#: The gold set shipped with Enclave, over its own ``docs/`` (the GUI's sample library).
SAMPLE_GOLD = _DATA / "sample_gold.jsonl"
#: The answer gold set: 40 answerable and 10 unanswerable questions over :data:`EVAL_CORPUS`.
ANSWER_GOLD = _DATA / "answer_gold.jsonl"
#: Five documents written for the answer gold set, one per format (scripts/make_eval_corpus.py).
EVAL_CORPUS = _DATA / "corpus"

_MARKUP = re.compile(r"[*_`]+")


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_FACT_NOISE = re.compile(r"[^\w.:%\u00b0/-]+")


def normalize_fact(text: str) -> str:
    """The form in which a gold fact is looked for in an answer: lower case, thousands
    separators dropped (``148,000`` = ``148000``), punctuation other than ``. : % ° / -`` made
    a space, spaces collapsed, and full stops at word ends dropped."""
    lowered = _THOUSANDS.sub("", text.lower())
    words = _FACT_NOISE.sub(" ", lowered).split()
    return " ".join(word.rstrip(".") for word in words)


def holds_fact(text: str, facts: tuple[str, ...]) -> bool:
    """Whether ``text`` contains any of ``facts`` (whole words, after :func:`normalize_fact`)."""
    padded = f" {normalize_fact(text)} "
    return any(f" {normalize_fact(fact)} " in padded for fact in facts if fact.strip())


def normalize(text: str) -> str:
    """Lower-case, Markdown emphasis and code marks dropped, whitespace collapsed: the form in
    which a gold phrase is looked for in a passage (loaders may or may not keep the marks)."""
    return " ".join(_MARKUP.sub("", text).lower().split())


@dataclass(frozen=True)
class GoldItem:
    """One question of a gold set.

    Attributes:
        id: a short name for reports.
        question: what is asked.
        answer: the expected answer, scored token by token.
        source: the file name of the document that holds the answer, ``""`` when not given.
        passage: a phrase the answering passage contains, ``""`` when any passage of ``source``
            counts.
        facts: spans a right answer contains (any one), empty when not given.
        unanswerable: the documents do not answer the question.
    """

    id: str
    question: str
    answer: str
    source: str = ""
    passage: str = ""
    facts: tuple[str, ...] = ()
    unanswerable: bool = False

    def matches(self, document_name: str, text: str) -> bool:
        """Whether a retrieved passage is this item's expected source."""
        if not self.source or document_name != self.source:
            return False
        return not self.passage or normalize(self.passage) in normalize(text)


@dataclass(frozen=True)
class GoldSet:
    """A loaded gold set and where it came from."""

    path: Path
    sha256: str
    items: tuple[GoldItem, ...]


def load_gold(path: Path) -> GoldSet:
    """Read and check a gold set.

    Raises:
        EvaluationError: the file cannot be read, a line is not a JSON object with text
            ``question`` and ``answer``, two items share an id, or the set is empty.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EvaluationError(
            f"Cannot read the gold set {path}: {exc.strerror or exc}. Pass an existing JSONL "
            "file with --gold, or leave it out to use the shipped sample set."
        ) from exc
    items: list[GoldItem] = []
    seen: set[str] = set()
    for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        items.append(_item(path, number, line, seen))
    if not items:
        raise EvaluationError(f"The gold set {path} holds no items (one JSON object per line).")
    return GoldSet(path=path, sha256=hashlib.sha256(raw).hexdigest(), items=tuple(items))


def _item(path: Path, number: int, line: str, seen: set[str]) -> GoldItem:
    where = f"{path}, line {number}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EvaluationError(f"{where} is not valid JSON ({exc.msg}).") from exc
    if not isinstance(data, dict):
        raise EvaluationError(f"{where} must be a JSON object with question and answer.")
    fields: dict[str, str] = {}
    facts = _facts(where, data.get("fact", []))
    unanswerable = data.get("unanswerable", False)
    if not isinstance(unanswerable, bool):
        raise EvaluationError(f"{where}: 'unanswerable' must be true or false.")
    for key in ("id", "question", "answer", "source", "passage"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise EvaluationError(f"{where}: {key!r} must be a string (got {value!r}).")
        fields[key] = value.strip()
    for key in ("question", "answer"):
        if not fields[key]:
            raise EvaluationError(f"{where}: {key!r} is missing or empty.")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise EvaluationError(
            f"{where}: unknown field(s) {', '.join(unknown)}; the fields are "
            f"{', '.join(FIELDS[:-1])} and {FIELDS[-1]}."
        )
    if unanswerable and (facts or fields["source"]):
        raise EvaluationError(f"{where}: an unanswerable item has no fact and no source.")
    item_id = fields["id"] or f"line-{number}"
    if item_id in seen:
        raise EvaluationError(f"{where}: the id {item_id!r} is used twice.")
    seen.add(item_id)
    return GoldItem(
        id=item_id,
        question=fields["question"],
        answer=fields["answer"],
        source=fields["source"],
        passage=fields["passage"],
        facts=facts,
        unanswerable=unanswerable,
    )


FIELDS = ("id", "question", "answer", "source", "passage", "fact", "unanswerable")


def _facts(where: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise EvaluationError(f"{where}: 'fact' must be a text or a list of texts.")
    return tuple(v.strip() for v in value)
