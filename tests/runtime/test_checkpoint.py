"""Checkpoint loading: the published CoTracker3 layout, its wrappers, and its failure modes."""

from __future__ import annotations

import collections
import json

import numpy as np
import pytest
import torch

from rt_edge.model import CoTracker3, ModelConfig, load_checkpoint

from ..conftest import CONFORMANCE, require


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(require(CONFORMANCE / "cotracker3_state_dict_manifest.json").read_text())
SPOT_KEYS = ("corr_mlp.fc1.weight", "fnet.conv1.weight", "updateformer.virual_tracks")


class NotATensor:
    """A module-level (hence picklable) class: loading it would need arbitrary code."""

    def __init__(self):
        self.payload = [1, 2, 3]


@pytest.fixture(scope="module")
def numpy_state(seeded_weights) -> dict[str, np.ndarray]:
    return seeded_weights("online", 0)


@pytest.fixture(scope="module")
def torch_state(numpy_state) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v.copy()) for k, v in numpy_state.items()}


@pytest.fixture(scope="module")
def loaded_from_numpy(numpy_state) -> CoTracker3:
    return load_checkpoint(numpy_state)


def _assert_weights(model: CoTracker3, expected: dict[str, torch.Tensor]) -> None:
    got = model.state_dict()
    for key in SPOT_KEYS:
        assert torch.equal(got[key], expected[key]), key
    mismatched = [k for k, v in expected.items() if not torch.equal(got[k], v)]
    assert mismatched == []
    assert set(got) - set(expected) == {"time_emb"}


# (a) ------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["online", "offline"])
def test_state_dict_layout_matches_manifest(variant, manifest):
    entry = manifest[variant]
    model = CoTracker3(ModelConfig(window_len=entry["window_len"]))
    got = [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in model.state_dict().items()]
    assert [row[0] for row in got] == [row[0] for row in entry["state_dict"]]  # names and order
    assert got == [[n, list(s), d] for n, s, d in entry["state_dict"]]  # shapes and dtypes too


def test_manifest_variants_are_16_and_60(manifest):
    # guards the parametrisation above: the two variants really differ in window length
    assert manifest["online"]["window_len"] == 16
    assert manifest["offline"]["window_len"] == 60
    te = {v: dict((n, s) for n, s, _ in manifest[v]["state_dict"])["time_emb"] for v in manifest}
    assert te == {"online": [1, 16, 1110], "offline": [1, 60, 1110]}


# (b) ------------------------------------------------------------------------------------
def test_load_numpy_dict_gives_exact_tensors(loaded_from_numpy, torch_state):
    _assert_weights(loaded_from_numpy, torch_state)
    assert not loaded_from_numpy.training
    assert loaded_from_numpy.cfg.window_len == 16
    # time_emb was absent: it comes from the model's own code, for 16 frames
    assert torch.equal(loaded_from_numpy.time_emb, CoTracker3(ModelConfig(window_len=16)).time_emb)


def test_load_does_not_alias_or_mutate_source(numpy_state, loaded_from_numpy):
    before = numpy_state["corr_mlp.fc1.weight"].copy()
    with torch.no_grad():
        loaded_from_numpy.corr_mlp.fc1.weight.add_(1.0)
    try:
        assert np.array_equal(numpy_state["corr_mlp.fc1.weight"], before)
    finally:
        with torch.no_grad():
            loaded_from_numpy.corr_mlp.fc1.weight.sub_(1.0)


# (c) ------------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["bare", "model_wrapped", "state_dict_wrapped", "module_prefix",
                                  "wrapped_module_prefix"])
def test_saved_forms_load_identically(tmp_path, torch_state, form):
    if form == "bare":
        obj = dict(torch_state)
    elif form == "model_wrapped":
        obj = {"model": dict(torch_state)}
    elif form == "state_dict_wrapped":
        obj = {"state_dict": dict(torch_state), "epoch": 3}
    elif form == "module_prefix":
        obj = {f"module.{k}": v for k, v in torch_state.items()}
    else:
        obj = {"model": {f"module.{k}": v for k, v in torch_state.items()}}
    path = tmp_path / "ckpt.pth"
    torch.save(obj, path)
    model = load_checkpoint(path)
    _assert_weights(model, torch_state)
    assert model.cfg.window_len == 16


def test_saved_with_time_emb_sets_window_len(tmp_path, torch_state):
    gen = torch.Generator().manual_seed(1)
    time_emb = torch.randn(1, 60, 1110, generator=gen)  # not what the model would compute itself
    path = tmp_path / "ckpt_te.pt"
    torch.save({"model": {f"module.{k}": v for k, v in {**torch_state, "time_emb": time_emb}.items()}}, path)
    model = load_checkpoint(path)
    _assert_weights(model, torch_state)
    assert model.cfg.window_len == 60
    assert model.time_emb.shape == (1, 60, 1110)
    assert torch.equal(model.time_emb, time_emb)
    # also as a str path
    assert torch.equal(load_checkpoint(str(path)).time_emb, time_emb)


# (d) ------------------------------------------------------------------------------------
def test_window_len_argument_used_without_time_emb(numpy_state, torch_state):
    model = load_checkpoint(numpy_state, window_len=60)
    assert model.cfg.window_len == 60
    assert model.time_emb.shape == (1, 60, 1110)
    assert torch.equal(model.time_emb, CoTracker3(ModelConfig(window_len=60)).time_emb)
    _assert_weights(model, torch_state)


def test_window_len_agreeing_with_time_emb_is_fine(torch_state):
    time_emb = torch.zeros(1, 60, 1110)
    model = load_checkpoint({**torch_state, "time_emb": time_emb}, window_len=60)
    assert model.cfg.window_len == 60
    assert torch.equal(model.time_emb, time_emb)


def test_window_len_conflicting_with_time_emb_raises(torch_state):
    with pytest.raises(ValueError) as err:
        load_checkpoint({**torch_state, "time_emb": torch.zeros(1, 60, 1110)}, window_len=16)
    assert "16" in str(err.value) and "60" in str(err.value)


# (e) ------------------------------------------------------------------------------------
def test_missing_key_raises(torch_state):
    state = dict(torch_state)
    del state["updateformer.virual_tracks"]
    with pytest.raises(ValueError) as err:
        load_checkpoint(state)
    msg = str(err.value)
    assert "missing" in msg and "updateformer.virual_tracks" in msg
    assert "unexpected" not in msg and "mis-shaped" not in msg


def test_unexpected_key_raises(torch_state):
    state = {**torch_state, "fnet.extra_head.weight": torch.zeros(3)}
    with pytest.raises(ValueError) as err:
        load_checkpoint(state)
    msg = str(err.value)
    assert "unexpected" in msg and "fnet.extra_head.weight" in msg
    assert "missing" not in msg


def test_misshaped_key_raises(torch_state):
    state = {**torch_state, "corr_mlp.fc1.weight": torch.zeros(384, 2400)}
    with pytest.raises(ValueError) as err:
        load_checkpoint(state)
    msg = str(err.value)
    assert "mis-shaped" in msg and "corr_mlp.fc1.weight" in msg
    assert "2400" in msg


def test_misshaped_time_emb_raises(torch_state):
    with pytest.raises(ValueError) as err:
        load_checkpoint({**torch_state, "time_emb": torch.zeros(1, 16, 1000)})
    assert "time_emb" in str(err.value)


def test_non_tensor_entry_raises(torch_state):
    with pytest.raises(ValueError) as err:
        load_checkpoint({**torch_state, "fnet.conv1.bias": [0.0] * 64})
    assert "fnet.conv1.bias" in str(err.value)


# (f) ------------------------------------------------------------------------------------
def test_garbage_file_raises_value_error(tmp_path):
    path = tmp_path / "x.pth"
    path.write_bytes(b"hello")
    with pytest.raises(ValueError) as err:
        load_checkpoint(path)
    assert "x.pth" in str(err.value)


def test_pickled_object_refused_by_weights_only_load(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": {"a": collections.OrderedDict()}, "x": NotATensor()}, path)
    # sanity: the file is a real checkpoint that a full (unsafe) unpickle would accept
    assert isinstance(torch.load(path, weights_only=False)["x"], NotATensor)
    with pytest.raises(ValueError) as err:
        load_checkpoint(path)
    assert "evil.pth" in str(err.value)


def test_missing_path_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "does_not_exist.pth")


def test_unsupported_source_type_raises():
    with pytest.raises(ValueError):
        load_checkpoint(12345)


@pytest.mark.parametrize("bad", [0, 1, True, 16.0])
def test_invalid_window_len_argument_raises(numpy_state, bad):
    with pytest.raises(ValueError, match="window_len must be an int >= 2"):
        load_checkpoint(numpy_state, window_len=bad)


def test_embedded_config_travels_with_the_checkpoint(torch_state):
    cfg = ModelConfig(window_len=24, model_resolution=(256, 320))
    model = load_checkpoint({"model": torch_state, "config": cfg.to_dict()})
    assert model.cfg == cfg and model.time_emb.shape == (1, 24, 1110)
