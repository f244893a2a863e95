"""Loading every kind of SeemoRe checkpoint, and refusing everything else clearly."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from seemore_core.arch import build
from seemore_core.checkpoint import detect_config, load_model, read_checkpoint, save_safetensors
from seemore_core.errors import CheckpointError, SeemoreError


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return set(sa) == set(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def small() -> torch.nn.Module:
    torch.manual_seed(0)
    return build("T", 2)


def test_golden_layouts_detect_their_variants(golden_dir: Path) -> None:
    t = read_checkpoint(golden_dir / "seemore_T_x4_random.pth")
    assert t.source == "params_ema"
    assert (t.config.variant, t.config.scale, t.config.use_shuffle, t.config.recursive) == (
        "T",
        4,
        True,
        2,
    )
    big = read_checkpoint(golden_dir / "seemore_L_x2_random.pth")
    assert (big.config.variant, big.config.scale, big.config.use_shuffle) == ("L", 2, False)
    assert big.config.recursive == 1


@pytest.mark.parametrize("wrapper", ["bare", "params", "params_ema", "module_prefix"])
def test_pth_wrappers(tmp_path: Path, small: torch.nn.Module, wrapper: str) -> None:
    sd = small.state_dict()
    obj: object = {
        "bare": sd,
        "params": {"params": sd},
        "params_ema": {"params_ema": sd},
        "module_prefix": {f"module.{k}": v for k, v in sd.items()},
    }[wrapper]
    p = tmp_path / "w.pth"
    torch.save(obj, p)
    assert _same_weights(load_model(p), small)


def test_params_ema_is_preferred(tmp_path: Path, small: torch.nn.Module) -> None:
    other = build("T", 2)
    p = tmp_path / "both.pth"
    torch.save({"params": other.state_dict(), "params_ema": small.state_dict()}, p)
    assert _same_weights(load_model(p), small)


def test_load_model_is_eval_on_cpu_and_runs(golden_dir: Path) -> None:
    m = load_model(golden_dir / "seemore_T_x4_random.pth")
    assert not m.training
    assert next(m.parameters()).device.type == "cpu"
    with torch.no_grad():
        assert m(torch.rand(2, 3, 9, 11)).shape == (2, 3, 36, 44)


def test_safetensors_round_trip_keeps_hidden_hyperparameters(tmp_path: Path) -> None:
    # A custom config whose use_shuffle/recursive/topk are not the table's defaults:
    # only the metadata can carry them.
    model = build("T", 3, num_layers=2, embedding_dim=16, use_shuffle=False, recursive=1, topk=2)
    p = save_safetensors(model, tmp_path / "m.safetensors", {"note": "hi"})
    ck = read_checkpoint(p)
    assert ck.config == model.cfg
    assert ck.metadata["note"] == "hi"
    assert json.loads(ck.metadata["seemore_config"])["topk"] == 2
    loaded = load_model(p)
    assert _same_weights(loaded, model)
    x = torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_safetensors_keys_are_the_authors(tmp_path: Path, golden_dir: Path) -> None:
    from safetensors.torch import load_file

    p = save_safetensors(load_model(golden_dir / "seemore_T_x4_random.pth"), tmp_path / "t.st")
    want = torch.load(golden_dir / "seemore_T_x4_random.pth", weights_only=True)["params_ema"]
    assert set(load_file(p)) == set(want)


def test_detect_from_state_dict_without_metadata_uses_table(golden_dir: Path) -> None:
    sd = torch.load(golden_dir / "seemore_L_x2_random.pth", weights_only=True)["params_ema"]
    cfg = detect_config(sd)
    assert (cfg.num_layers, cfg.embedding_dim, cfg.use_shuffle, cfg.recursive) == (
        16,
        48,
        False,
        1,
    )


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {_Evil.marker}",))

    marker = ""


def test_pickle_with_code_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _Evil.marker = str(marker)
    p = tmp_path / "evil.pth"
    torch.save({"params": {"conv_1.weight": _Evil()}}, p)
    plain = tmp_path / "evil_plain.pth"
    plain.write_bytes(pickle.dumps({"x": _Evil()}))
    for f in (p, plain):
        with pytest.raises(CheckpointError) as e:
            load_model(f)
        assert str(f) in str(e.value)
    assert not marker.exists()


def _bad(tmp_path: Path, small: torch.nn.Module) -> dict[str, tuple[Path, str]]:
    sd = small.state_dict()
    cases: dict[str, tuple[Path, str]] = {}

    def save(name: str, obj: object) -> Path:
        p = tmp_path / name
        torch.save(obj, p)
        return p

    good = save("good.pth", {"params": sd})
    trunc = tmp_path / "truncated.pth"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases["truncated"] = (trunc, "cannot read")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    cases["empty"] = (empty, "cannot read")
    text = tmp_path / "notes.pth"
    text.write_text("these are not weights")
    cases["text"] = (text, "cannot read")
    cases["missing file"] = (tmp_path / "nope.pth", "no such file")
    cases["directory"] = (tmp_path, "not a regular file")
    cases["other net"] = (save("resnet.pth", {"fc.weight": torch.zeros(2, 2)}), "not a SeemoRe")
    wrong = dict(sd)
    wrong["conv_2.weight"] = torch.zeros(36, 36, 5, 5)
    cases["shape"] = (save("shape.pth", wrong), "shape mismatch at conv_2.weight")
    missing = {k: v for k, v in sd.items() if "ffn.gate" not in k}
    cases["missing keys"] = (save("missing.pth", missing), "missing key")
    extra = {**sd, "body.0.extra.weight": torch.zeros(1)}
    cases["unexpected"] = (save("extra.pth", extra), "unexpected key")
    cases["list"] = (save("list.pth", [1, 2, 3]), "expected a dict")
    cases["non-tensor"] = (save("nt.pth", {**sd, "conv_1.bias": 3}), "not a tensor")
    st = tmp_path / "bad.safetensors"
    st.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")
    cases["safetensors"] = (st, "safetensors")
    return cases


def test_bad_checkpoints_raise_one_clear_error(tmp_path: Path, small: torch.nn.Module) -> None:
    for what, (path, why) in _bad(tmp_path, small).items():
        with pytest.raises(CheckpointError) as e:
            load_model(path)
        msg = str(e.value)
        assert isinstance(e.value, SeemoreError)
        assert str(path) in msg, what
        assert why in msg, f"{what}: {msg}"
        assert "\n" not in msg
