"""The benchmark package's arithmetic and result writing (fast; no benchmark runs here)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from bench.__main__ import PARTS, goal_rows, summary_rows
from bench.common import (
    Goal,
    format_table,
    median,
    process_kind,
    ratio,
    safe_div,
    slope,
    write_results,
)
from bench.memory import rss_summary
from bench.stages import StageClock


def test_ratio_and_division_handle_missing_and_zero() -> None:
    assert ratio(3.0, 4.0) == 0.75
    assert ratio(1.0, 3.0) == 0.333
    assert ratio(None, 4.0) is None
    assert ratio(1.0, 0.0) is None
    assert safe_div(1.0, -2.0) is None
    assert safe_div(float("nan"), 1.0) is None


def test_median_skips_none() -> None:
    assert median([3.0, None, 1.0, 2.0]) == 2.0
    assert median([None, None]) is None


def test_slope_is_least_squares() -> None:
    xs = [0.0, 1.0, 2.0, 3.0]
    assert slope(xs, [1.0, 3.0, 5.0, 7.0]) == pytest.approx(2.0)
    assert slope(xs, [5.0, 5.0, 5.0, 5.0]) == pytest.approx(0.0)
    assert slope([1.0, 1.0], [0.0, 9.0]) is None
    assert slope([1.0], [2.0]) is None


def test_goal_verdict() -> None:
    assert Goal("r", 0.96, 0.95).met is True
    assert Goal("r", 0.9, 0.95).met is False
    assert Goal("r", None, 0.95).met is None
    assert Goal("r", 0.9, 0.95).as_dict()["met"] is False


def test_format_table_aligns_and_formats() -> None:
    text = format_table([["a", 1.23456, None], ["long name", 7, True]], ["metric", "v", "x"])
    lines = text.splitlines()
    assert lines[0].startswith("metric")
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert "1.23" in lines[2] and "1.2345" not in lines[2]
    assert lines[2].rstrip().endswith("-")  # None
    assert lines[3].rstrip().endswith("yes")
    assert lines[2].index("1.23") == lines[3].index("7")  # the first column is padded


def test_write_results_never_overwrites(tmp_path) -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    p1 = write_results({"a": 1}, tmp_path, when)
    p2 = write_results({"a": 2}, tmp_path, when)
    assert p1.name == "2026-01-02.json"
    assert p2.name == "2026-01-02-2.json"
    assert json.loads(p1.read_text())["a"] == 1
    assert json.loads(p2.read_text())["a"] == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_rss_summary_start_peak_end_and_trend() -> None:
    samples = [{"t": 0, "done": 0, "rss": 900.0}]  # start-up: not the start of the work
    samples += [{"t": i + 1, "done": 10 * i, "rss": 100.0 + i} for i in range(1, 11)]
    samples += [{"t": 20, "done": 100, "rss": 10.0}]  # shut-down after the last record
    s = rss_summary(samples, "rss", 100)
    assert s["start_mb"] == 101.0
    assert s["end_mb"] == 110.0
    assert s["peak_mb"] == 900.0
    assert s["mb_per_100_docs"] == pytest.approx(10.0)  # 1 MB per 10 documents


def test_rss_summary_without_work() -> None:
    assert rss_summary([{"done": 0, "rss": 5.0}], "rss", 10)["start_mb"] is None


def test_stage_clock_is_exclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from bench import stages

    now = [0.0]  # a clock the stages advance themselves: no sleeping, no load-dependent timings
    monkeypatch.setattr(stages, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    clock = StageClock()

    def inner() -> None:
        now[0] += 0.02

    outer_inner = clock.wrap("ocr", inner)

    def outer() -> None:
        now[0] += 0.01
        outer_inner()

    clock.wrap("render", outer)()
    assert clock.calls["render"] == 1 and clock.calls["ocr"] == 1
    assert clock.seconds["ocr"] == pytest.approx(0.02)
    assert clock.seconds["render"] == pytest.approx(0.01)  # the nested 0.02 s is not counted
    clock.add_other(clock.seconds["render"] + clock.seconds["ocr"] + 0.5)
    assert clock.seconds["other"] == pytest.approx(0.5)


def test_process_kind() -> None:
    assert process_kind("python docai process", True) == "main"
    assert process_kind("python -m uvicorn --factory prefect.server.api.server:create_app",
                        False) == "prefect_server"
    assert process_kind("python -c from multiprocessing.forkserver import main", False) == "workers"
    assert process_kind("/usr/bin/tesseract page.pgm stdout", False) == "tesseract"
    assert process_kind("pdftotext a.pdf -", False) == "other"


def test_summary_and_goal_rows_follow_part_order() -> None:
    parts = {
        "native": {"rows": [["native", 1, "", ""]],
                   "goals": [Goal("n", 25.0, 20).as_dict()]},
        "ocr": {"rows": [["ocr", 2, "", ""]], "goals": [Goal("o", 0.5, 0.95).as_dict()]},
    }
    assert [r[0] for r in summary_rows(parts)] == ["ocr", "native"]
    assert [(r[0], r[3]) for r in goal_rows(parts)] == [("o", "not met"), ("n", "MET")]
    assert PARTS[0] == "ocr"
