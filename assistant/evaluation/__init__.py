"""Evaluation: how well the model and retrieval do on a site's own questions, without a judge.

Two measurements over a gold set (JSONL of question, expected answer, expected source):

- **answer scoring** (:mod:`.answers`): the cross-entropy and perplexity of the expected answer
  under the model, teacher-forced (``Engine.score``), conditioned on exactly the prompt the app
  would build: the same hybrid retrieval, relevance filter and numbered-source prompt;
- **retrieval scoring** (:mod:`.retrieval`): recall@k, MRR and nDCG@10 of the expected source for
  dense, lexical and hybrid retrieval.

Results are an :class:`~.report.EvalReport`: a terminal table, JSON, and a PNG comparing runs
(:mod:`.plot`). :mod:`.gold` reads gold sets; one over the sample library (the project's own
``docs/``) ships in ``data/``. :mod:`.runner` ties them together for the CLI and the GUI.

This package must not import Qt. It imports neither llama.cpp nor chromadb itself: the engine
and the knowledge base are passed in. Pillow loads only when a plot is drawn.
"""

from __future__ import annotations

from assistant.evaluation.gold import SAMPLE_GOLD, GoldItem, load_gold
from assistant.evaluation.report import EvalReport

__all__ = ["SAMPLE_GOLD", "EvalReport", "GoldItem", "load_gold"]
