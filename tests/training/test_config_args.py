"""Trainer options defined once (training.options): flags generated from the fields, `--config FILE.json`, and a
run's OUT/config.json read back as options."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

from training.config_args import RUN_RECORD_KEYS, add_config_args, config_from_args, read_config
from training.options import PseudoConfig, TrainConfig, VerifierTrainConfig

CONFIGS = (TrainConfig, PseudoConfig, VerifierTrainConfig)


def _parser(cls) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="t", exit_on_error=False)
    add_config_args(p, cls)
    return p


def _parse(cls, argv):
    return config_from_args(cls, _parser(cls).parse_args(argv))


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_field_has_one_flag_with_help(cls):
    p = _parser(cls)
    dests = {a.dest: a for a in p._actions if a.option_strings and a.dest not in ("help", "config")}
    assert set(dests) == {f.name for f in dataclasses.fields(cls)}
    assert all(a.help for a in dests.values()), [d for d, a in dests.items() if not a.help]
    text = p.format_help()
    assert "--quiet" in text and "--progress" not in text  # progress=True is switched off by --quiet


def test_flags_build_the_same_config_as_the_constructor(tmp_path):
    cfg = _parse(TrainConfig, ["--data", "D", "--size", "64", "96", "--iters", "2", "--lr", "1e-3", "--bf16",
                               "--no-augment", "--quiet", "--model-config", '{"corr_radius": 2}',
                               "--stop-at", "7"])
    assert cfg == TrainConfig(data="D", size=(64, 96), iters=2, lr=1e-3, bf16=True, augment=False, progress=False,
                              model_config={"corr_radius": 2}, stop_at=7)
    assert _parse(TrainConfig, ["--data", "D"]) == TrainConfig(data="D")  # nothing given: the fields' defaults
    v = _parse(VerifierTrainConfig, ["--data", "D", "--tracker", "T", "--kinds", "drift", "jump",
                                     "--magnitude", "2", "64"])
    assert v.kinds == ("drift", "jump") and v.magnitude == (2.0, 64.0) and v.augment is True
    pc = _parse(PseudoConfig, ["--videos", "V", "--teachers", "lk", "flow", "--init", "I", "--augment"])
    assert pc.teachers == ["lk", "flow"] and pc.augment is True and pc.selection == "random"
    with pytest.raises(argparse.ArgumentError):
        _parser(PseudoConfig).parse_args(["--selection", "best"])  # choices come from the options module


def test_config_file_under_flags_over_defaults(tmp_path):
    f = tmp_path / "stage.json"
    f.write_text(json.dumps({"data": "D", "lr": 2e-4, "size": [192, 192], "warmup": 100}))
    cfg = _parse(TrainConfig, ["--config", str(f), "--warmup", "0"])
    assert (cfg.data, cfg.lr, cfg.size, cfg.warmup, cfg.steps) == ("D", 2e-4, (192, 192), 0, 1000)
    f.write_text(json.dumps({"data": "D", "lr": 1}))  # an int where a float is expected is fine
    assert _parse(TrainConfig, ["--config", str(f)]).lr == 1


def test_bad_config_files_and_missing_options_are_named(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"data": "D", "learning_rate": 1e-3}))
    with pytest.raises(ValueError, match="unknown option.*learning_rate"):
        _parse(TrainConfig, ["--config", str(f)])
    f.write_text(json.dumps({"data": "D", "steps": "many"}))
    with pytest.raises(ValueError, match="steps must be int, got 'many'"):
        _parse(TrainConfig, ["--config", str(f)])
    f.write_text(json.dumps({"data": "D", "bf16": 1}))
    with pytest.raises(ValueError, match="bf16 must be bool"):
        _parse(TrainConfig, ["--config", str(f)])
    f.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        _parse(TrainConfig, ["--config", str(f)])
    f.write_text("{oops")
    with pytest.raises(ValueError, match="not JSON"):
        _parse(TrainConfig, ["--config", str(f)])
    with pytest.raises(FileNotFoundError, match="missing.json"):
        _parse(TrainConfig, ["--config", str(tmp_path / "missing.json")])
    with pytest.raises(ValueError, match="--videos, --teachers, --init required"):
        _parse(PseudoConfig, [])


@pytest.mark.parametrize("cls,required", [(TrainConfig, {"data": "D"}),
                                          (PseudoConfig, {"videos": "V", "teachers": ["lk"], "init": "I"}),
                                          (VerifierTrainConfig, {"data": "D", "tracker": "T"})],
                         ids=lambda c: getattr(c, "__name__", ""))
def test_a_runs_config_json_reads_back_as_its_options(tmp_path, cls, required):
    """What the trainers write (asdict of the options plus their records) gives the same options back."""
    cfg = cls(**required, seed=3, steps=17)
    record = {k: {"any": "thing"} for k in RUN_RECORD_KEYS if k not in {f.name for f in dataclasses.fields(cls)}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**dataclasses.asdict(cfg), **record}))
    assert read_config(cls, path) == dataclasses.asdict(cfg) | {
        k: tuple(v) for k, v in dataclasses.asdict(cfg).items() if isinstance(v, tuple)}
    assert _parse(cls, ["--config", str(path)]) == cfg
    again = _parse(cls, ["--config", str(path), "--out", str(tmp_path / "elsewhere")])
    assert again == dataclasses.replace(cfg, out=str(tmp_path / "elsewhere"))


def test_the_default_model_recipe_stages_are_valid_options():
    """training/recipes/default_model.sh trains each stage from common.json plus the stage's file."""
    from ..conftest import REPO

    stages = REPO / "training/recipes/stages"
    names = sorted(p.stem for p in stages.glob("stage*.json"))
    assert names == ["stage1", "stage2a", "stage2b", "stage3", "stage4", "stage5a", "stage5b", "stage6"]
    script = (REPO / "training/recipes/default_model.sh").read_text()
    cfgs = {}
    for name in names:
        assert f"training/recipes/stages/{name}.json" in script
        cfgs[name] = _parse(TrainConfig, ["--data", "D", "--config", str(stages / "common.json"),
                                          str(stages / f"{name}.json")])
    assert {c.frames for c in cfgs.values()} == {24} and {c.points for c in cfgs.values()} == {64}
    assert cfgs["stage1"].size == (128, 128) and cfgs["stage6"].size == (288, 288) and cfgs["stage6"].iters == 6
    assert [n for n, c in cfgs.items() if c.huber_delta == 1.0] == ["stage3", "stage4", "stage5a", "stage5b",
                                                                     "stage6"]
