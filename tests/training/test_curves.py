"""`python -m training curves`: log parsing across a resume, the running median, the plot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.__main__ import main
from training.curves import read_log, smooth, summary


def _row(step: int, track: float) -> dict:
    return {"step": step, "lr": 1e-4, "track": track, "confidence": 1.0, "visibility": 0.5, "total": track + 1.5}


def _write_resumed_log(path):
    """Steps 1-5, then a resume from the step-3 checkpoint that re-logs 4-5 with other values, on to 7."""
    rows = [_row(s, 100.0 + s) for s in range(1, 6)]
    rows.append({"step": 5, "eval": {"average_jaccard": 0.1, "average_pts_within_thresh": 0.2,
                                     "occlusion_accuracy": 0.7}})
    rows += [_row(s, 50.0 + s) for s in range(4, 8)]
    rows.append({"step": 7, "eval": {"average_jaccard": 0.3, "average_pts_within_thresh": 0.4,
                                     "occlusion_accuracy": 0.8}})
    path.mkdir()
    (path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_resumed_steps_count_once_and_the_later_rows_win(tmp_path):
    log = read_log(_write_resumed_log(tmp_path / "run"))
    np.testing.assert_array_equal(log.steps, [1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(log.losses["track"], [101, 102, 103, 54, 55, 56, 57])
    np.testing.assert_array_equal(log.losses["total"], log.losses["track"] + 1.5)
    assert [s for s, _ in log.evals] == [5, 7]
    assert log.evals[1][1]["average_jaccard"] == 0.3


def test_running_median_is_trailing_and_ignores_one_outlier():
    v = np.array([1.0, 100.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(smooth(v, 3), [1.0, 50.5, 3.0, 4.0, 4.0])
    np.testing.assert_array_equal(smooth(v, 1), v)
    with pytest.raises(ValueError, match="window"):
        smooth(v, 0)


def test_summary_medians_over_first_and_last_window(tmp_path):
    s = summary(read_log(_write_resumed_log(tmp_path / "run")), window=3)
    assert s["steps"] == 7 and s["steps_logged"] == 7
    assert s["track_loss_median_first"] == 102.0
    assert s["track_loss_median_last"] == 56.0
    assert [e["step"] for e in s["eval"]] == [5, 7]


def test_bad_logs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="log.jsonl"):
        read_log(tmp_path)
    (tmp_path / "log.jsonl").write_text('{"step": 1, "eval": {}}\nnot json\n')
    with pytest.raises(ValueError, match=r"log.jsonl:2"):
        read_log(tmp_path)


def test_cli_prints_plots_and_writes_json(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    run = _write_resumed_log(tmp_path / "run")
    png, js = tmp_path / "c.png", tmp_path / "c.json"
    assert main(["curves", str(run), "--window", "3", "--out", str(png), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "7 steps" in out and "102.0" in out and "56.0" in out and "step 7: held-out AJ 0.300" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert json.loads(js.read_text())[0]["track_loss_median_last"] == 56.0


def test_pseudo_runs_log_the_track_loss_only(tmp_path):
    (tmp_path / "log.jsonl").write_text("".join(
        json.dumps({"step": s, "lr": 5e-5, "track": 10.0 - s, "visibility": 0.3, "teacher": "lk"}) + "\n"
        for s in (1, 2, 3)))
    log = read_log(tmp_path)
    np.testing.assert_array_equal(log.losses["track"], [9, 8, 7])
    assert "total" not in log.losses
    assert summary(log, window=2)["track_loss_median_last"] == 7.5


def test_window_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        main(["curves", "run", "--window", "0"])
    assert "must be >= 1, got 0" in capsys.readouterr().err
