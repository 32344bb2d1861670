"""`import rt_edge` must work on a robot with no torch installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from .conftest import REPO

BLOCK_TORCH = textwrap.dedent(
    """
    import sys
    class _NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is blocked in this test")
            return None
    sys.meta_path.insert(0, _NoTorch())
    """
)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_import_rt_edge_does_not_import_torch():
    r = _run(
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
    r = _run("import torch")
    assert r.returncode != 0 and "blocked" in r.stderr


def test_cli_without_torch_fails_cleanly():
    r = _run("import sys; from rt_edge.__main__ import main; sys.exit(main(['info']))")
    assert r.returncode == 2
    assert "needs PyTorch" in r.stderr and "Traceback" not in r.stderr


def test_missing_shared_data_fails_in_ci_and_skips_elsewhere(tmp_path, monkeypatch):
    from .conftest import require

    missing = tmp_path / "nope.npz"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="nope.npz"):
        require(missing)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require(missing)
    assert require(tmp_path) == tmp_path


def test_rt_edge_imports_no_package_above_it():
    import ast

    above = {"export", "kernels", "training", "benchmarks"}
    found = []
    for path in sorted((REPO / "rt_edge").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            found += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] in above]
    assert found == []
