"""`import rt_edge` must work on a robot with no torch installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from ..conftest import REPO, run_without_torch


def test_import_rt_edge_does_not_import_torch():
    r = run_without_torch(
        """
        import rt_edge, sys
        assert "torch" not in sys.modules, "rt_edge imported torch"
        cfg = rt_edge.ModelConfig.published("offline")
        print(cfg.window_len, cfg.input_dim, cfg.corr_size)
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["60", "1110", "2401"]


def test_blocker_really_blocks_torch():
    r = run_without_torch("import torch")
    assert r.returncode != 0 and "blocked" in r.stderr


def test_cli_without_torch_fails_cleanly():
    r = run_without_torch("import sys; from rt_edge.__main__ import main; sys.exit(main(['info']))")
    assert r.returncode == 2
    assert "needs PyTorch" in r.stderr and "Traceback" not in r.stderr


def test_missing_shared_data_fails_in_ci_and_skips_elsewhere(tmp_path, monkeypatch):
    from ..conftest import require

    missing = tmp_path / "nope.npz"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="nope.npz"):
        require(missing)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require(missing)
    assert require(tmp_path) == tmp_path


def _imports_of(root, banned: set[str]) -> list[str]:
    """'FILE: MODULE' for every absolute import (at any depth: lazy ones in functions too) of a module
    under a top-level package in banned, in the .py files under root."""
    import ast

    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            found += [f"{path.relative_to(root.parent)}: {n}" for n in names if n.split(".")[0] in banned]
    return found


def test_rt_edge_imports_no_package_above_it():
    assert _imports_of(REPO / "rt_edge", {"export", "kernels", "training", "benchmarks"}) == []


def test_training_imports_nothing_from_benchmarks():
    """Imports point down: benchmarks may use training, never the other way round (shared evaluation
    code lives in rt_edge.evaluation)."""
    assert _imports_of(REPO / "training", {"benchmarks"}) == []


def test_layering_scan_sees_every_form_of_import(tmp_path):
    pkg = tmp_path / "training"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "ok.py").write_text("import numpy\nfrom rt_edge.evaluation.lk import lk_predictor\nfrom . import sub\n"
                               "# from benchmarks.lk import lk_predictor\nx = 'import benchmarks'\n")
    (pkg / "sub" / "bad.py").write_text(
        "import benchmarks\nimport os, benchmarks.lk as lk\nfrom benchmarks import tapvid\n"
        "def f():\n    from benchmarks.trackers import rt_edge_predictor\n")
    assert _imports_of(pkg, {"benchmarks"}) == [
        "training/sub/bad.py: benchmarks", "training/sub/bad.py: benchmarks.lk", "training/sub/bad.py: benchmarks",
        "training/sub/bad.py: benchmarks.trackers"]


def test_evaluation_imports_without_torch_or_cv2():
    r = run_without_torch(
        """
        class _NoCv2:
            def find_spec(self, name, path=None, target=None):
                if name == "cv2" or name.startswith("cv2."):
                    raise ImportError("cv2 is blocked in this test")
                return None
        sys.meta_path.insert(0, _NoCv2())
        import rt_edge
        assert "rt_edge.evaluation" not in sys.modules, "import rt_edge imported rt_edge.evaluation"
        import rt_edge.evaluation.flow_tracker, rt_edge.evaluation.lk, rt_edge.evaluation.tapvid
        import rt_edge.evaluation.trackers
        assert "torch" not in sys.modules and "cv2" not in sys.modules, sorted(sys.modules)
        p = rt_edge.evaluation.trackers.rt_edge_predictor()
        print(rt_edge.evaluation.tapvid.SUMMARY[0], callable(p), "torch" in sys.modules)
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["average_jaccard", "True", "False"]


def test_video_extensions_are_defined_once():
    """Every command takes the same video files: one tuple of extensions, in rt_edge.video."""
    import ast

    found = []
    for pkg in ("rt_edge", "export", "kernels", "training", "benchmarks"):
        for path in sorted((REPO / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Tuple) and any(isinstance(e, ast.Constant) and e.value == ".mp4"
                                                       for e in node.elts):
                    found.append(str(path.relative_to(REPO)))
    assert found == ["rt_edge/video.py"]
