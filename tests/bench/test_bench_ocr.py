"""The OCR benchmark at its smallest: one page per setting, the app's engine only."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_ocr import TARGETS, cer, edit_distance
from tests.bench import runner


def test_edit_distance_and_cer_count_what_they_say() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == edit_distance("abc", "") == 3
    assert edit_distance("same", "same") == 0
    assert cer("a  b\nc", "a b c") == 0.0  # white space runs count as one space
    assert cer("abcd", "abXd") == 0.25


@pytest.mark.slow
def test_the_benchmark_reports_cer_and_speed_for_each_setting(tmp_path: Path) -> None:
    result = runner.run_bench(
        "bench_ocr", tmp_path / "ocr.json", "--pages", "1", "--engines", "tesseract"
    )
    tesseract = result["engines"]["tesseract"]
    assert set(tesseract["settings"]) == {"serif_150", "serif_300", "sans_150", "sans_300"}
    assert result["reference_typeset"]["s_per_page_150"] > 0
    assert result["max_abs_angle_deg"] <= 2.0
    # the accuracy targets hold on every run: a regression in the OCR path shows here
    assert tesseract["cer_300"] <= TARGETS["cer_300"]
    assert tesseract["cer_150"] <= TARGETS["cer_150"]
    assert result["tesseract_pool"]["pages_per_s_150"] > 0
