"""benchmarks paired: per-sequence differences of two realtex results."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.__main__ import main as benchmarks_main
from benchmarks.paired import from_results, paired

KEYS = ("average_jaccard", "average_pts_within_thresh", "occlusion_accuracy")


def _rows(values):
    return [dict.fromkeys(KEYS, v) for v in values]


def _result(values, sequences=("0:bear.mp4#1", "1:teddy.mp4#2", "2:pillow.mp4#3"), tracker="rt_edge"):
    return {"_settings": {"sequences": list(sequences)}, "_per_sequence": {tracker: _rows(values)}}


def test_mean_difference_standard_error_and_wins_match_a_hand_computation():
    # differences 0.1, -0.1, 0.3: mean 0.1, sample sd 0.2, s.e. 0.2 / sqrt(3)
    s = paired(_rows([0.5, 0.4, 0.2]), _rows([0.6, 0.3, 0.5]))["average_jaccard"]
    assert s["a"] == pytest.approx(1.1 / 3) and s["b"] == pytest.approx(1.4 / 3)
    assert s["diff"] == pytest.approx(0.1) and s["se"] == pytest.approx(0.2 / np.sqrt(3))
    assert (s["b_better"], s["b_worse"]) == (2, 1)
    with pytest.raises(ValueError, match="same number"):
        paired(_rows([0.5, 0.4]), _rows([0.5]))


def test_files_must_have_scored_the_same_sequences_and_hold_the_tracker():
    with pytest.raises(ValueError, match="different sequences"):
        from_results(_result([1, 2, 3]), _result([1, 2, 3], sequences=("a", "b", "c")), "rt_edge", "rt_edge")
    with pytest.raises(ValueError, match="no per-sequence scores of 'lk'"):
        from_results(_result([1, 2, 3]), _result([1, 2, 3]), "lk", "rt_edge")
    old = {"_settings": {"sequences": []}, "rt_edge": {}}
    with pytest.raises(ValueError, match="made again"):
        from_results(old, _result([1, 2, 3]), "rt_edge", "rt_edge")


def test_cli_prints_and_writes_the_comparison(tmp_path, capsys):
    a, b, out = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "paired.json"
    a.write_text(json.dumps(_result([0.5, 0.4, 0.2])))
    b.write_text(json.dumps(_result([0.6, 0.3, 0.5], tracker="lk")))
    assert benchmarks_main(["paired", str(a), str(b), "--tracker-b", "lk", "--out", str(out)]) == 0
    assert "+0.1000" in capsys.readouterr().out
    written = json.loads(out.read_text())
    assert written["sequences"] == 3 and written["occlusion_accuracy"]["diff"] == pytest.approx(0.1)
    assert benchmarks_main(["paired", str(a), str(b)]) == 2  # B has no rt_edge rows
    assert "no per-sequence scores of 'rt_edge'" in capsys.readouterr().err
