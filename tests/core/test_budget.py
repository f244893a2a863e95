"""Small files with huge effects: a checkpoint's cost is bounded before it is allocated.

Every hostile file is built here, from a network's key list on the meta device, so each
stays a few hundred KB and each test runs in about a second.
"""

from __future__ import annotations

import resource
import zipfile
from pathlib import Path

import pytest
import torch

from seemore_core import budget
from seemore_core.arch import SeemoRe, SeemoreConfig, count_params, variant_config
from seemore_core.checkpoint import load_model, model_from_state_dict, read_checkpoint
from seemore_core.errors import CheckpointError, WorkTooLargeError


def _peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _expanded_state_dict(cfg: SeemoreConfig) -> dict[str, torch.Tensor]:
    """Every key of ``cfg``'s network, each one stored number expanded to its full shape
    (stride 0): what a few-hundred-KB file can declare."""
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in SeemoRe(cfg).state_dict().items()}
    return {k: torch.zeros(1).expand(shape) for k, shape in shapes.items()}


@pytest.mark.parametrize(
    ("config", "declared"),
    [
        # 32 experts with exponential growth: expert widths up to 2^32.
        (SeemoreConfig(scale=4, num_layers=1, embedding_dim=8, num_experts=32), 10**11),
        # Within every per-dimension cap: 4 layers, 512 wide (a "241 KB" multi-GB net).
        (SeemoreConfig(scale=4, num_layers=4, embedding_dim=512), 10**7),
        # Small enough to build, yet every value a view of one number.
        (SeemoreConfig(scale=2, num_layers=1, embedding_dim=8), 1000),
    ],
    ids=["32-exp-experts", "512-wide", "small"],
)
def test_stride_zero_tensors_are_refused_before_allocation(
    tmp_path: Path, config: SeemoreConfig, declared: int
) -> None:
    sd = _expanded_state_dict(config)
    assert sum(t.numel() for t in sd.values()) > declared
    path = tmp_path / "expanded.pth"
    torch.save({"params_ema": sd}, path)
    assert path.stat().st_size < 2_000_000
    before = _peak_kib()
    with pytest.raises(CheckpointError, match="not stored in full") as e:
        load_model(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
    assert _peak_kib() - before < 100_000
    # A state dict handed over in memory gets the same check.
    with pytest.raises(CheckpointError, match="not stored in full"):
        model_from_state_dict(sd)


def test_shared_storage_is_refused(tmp_path: Path) -> None:
    sd = {
        k: v.clone() for k, v in SeemoRe(SeemoreConfig(scale=2, num_layers=1)).state_dict().items()
    }
    sd["conv_2.bias"] = sd["conv_1.bias"]  # the same tensor under two names
    path = tmp_path / "shared.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match="share their data"):
        read_checkpoint(path)


def test_a_declared_network_over_the_budget_is_refused_unbuilt(tmp_path: Path) -> None:
    # Real (dense) tensors for the few keys that size the network, and a key naming
    # block 127: a 128-layer, 64-wide network of ~14M parameters, from a ~100 KB file.
    c = 64
    cfg = SeemoreConfig(scale=2, num_layers=128, embedding_dim=c)
    assert budget.network_params(cfg) > budget.MAX_NETWORK_PARAMS
    sd = {
        "conv_1.weight": torch.zeros(c, 3, 3, 3),
        "upsampler.0.weight": torch.zeros(12, c, 3, 3),
        "norm.weight": torch.zeros(c),
        "body.0.global_block.block.attn.conv.0.weight": torch.zeros(c, 1, 1, 11),
        "body.127.norm.weight": torch.zeros(c),
    }
    for j, r in enumerate(cfg.ranks):
        sd[f"body.0.local_block.block.moe_layer.experts.{j}.conv_1.weight"] = torch.zeros(
            r, c, 1, 1
        )
    path = tmp_path / "deep.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r"declares has [\d,]+ parameters"):
        read_checkpoint(path)


def test_deflated_record_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    good = tmp_path / "good.pth"
    torch.save({"params": SeemoRe(SeemoreConfig(scale=2, num_layers=1)).state_dict()}, good)
    bomb = tmp_path / "bomb.pth"
    # The same archive, plus a deflated record of 64 MB of zeros (about 64 KB stored).
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        prefix = src.namelist()[0].split("/")[0]
        dst.writestr(f"{prefix}/data/9999", bytes(64 << 20), zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 2 << 20
    before = _peak_kib()
    with pytest.raises(CheckpointError, match="compression bomb"):
        read_checkpoint(bomb)
    assert _peak_kib() - before < 50_000


def test_a_text_file_is_not_called_code(tmp_path: Path) -> None:
    text = tmp_path / "notes.pth"
    text.write_text("# my weights are elsewhere\nhttps://example.org/model.pth\n")
    binary = tmp_path / "random.pt"
    binary.write_bytes(bytes(range(256)) * 4)
    for path, why in ((text, "text file"), (binary, "not a file written by torch.save")):
        with pytest.raises(CheckpointError) as e:
            read_checkpoint(path)
        assert why in str(e.value) and "code" not in str(e.value)


def test_a_pickle_naming_code_is_still_called_code(tmp_path: Path) -> None:
    import os

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.getcwd, ())  # harmless, but a callable all the same

    path = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, path)
    with pytest.raises(CheckpointError, match="possible code"):
        read_checkpoint(path)


def test_symlink_loop_and_unreadable_checkpoints_are_one_line(tmp_path: Path) -> None:
    loop = tmp_path / "loop.pth"
    loop.symlink_to(loop)
    with pytest.raises(CheckpointError, match="loop of symbolic links"):
        read_checkpoint(loop)
    locked = tmp_path / "locked.pth"
    locked.write_bytes(b"PK")
    locked.chmod(0)
    if os_can_read(locked):
        pytest.skip("running as root: permissions are not enforced")
    with pytest.raises(CheckpointError, match="permission denied"):
        read_checkpoint(locked)


def os_can_read(path: Path) -> bool:
    try:
        path.read_bytes()
    except PermissionError:
        return False
    return True


@pytest.mark.parametrize(
    "cfg",
    [
        variant_config("T", 4),
        variant_config("B", 3),
        variant_config("L", 2),
        SeemoreConfig(scale=1, num_layers=2, embedding_dim=5, num_experts=5, growth="linear"),
        SeemoreConfig(
            scale=3,
            num_layers=1,
            embedding_dim=7,
            num_experts=4,
            growth="double",
            kernel_size=5,
            topk=2,
        ),
    ],
)
def test_parameter_formula_matches_the_network(cfg: SeemoreConfig) -> None:
    assert budget.network_params(cfg) == count_params(SeemoRe(cfg))


def test_info_counts_without_building_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from seemore_core import cli
    from seemore_core.arch import model as arch_model
    from seemore_core.checkpoint import save_safetensors

    net = SeemoRe(variant_config("T", 2))
    path = save_safetensors(net, tmp_path / "t.safetensors")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("seemore info built the network")

    monkeypatch.setattr(arch_model.SeemoRe, "__init__", refuse)
    assert cli.main(["info", str(path), "--json"]) == 0
    assert f'"params": {count_params(net)}' in capsys.readouterr().out


# --------------------------------------------------------------------------- work


def test_output_pixels_count_the_scale() -> None:
    cfg = variant_config("T", 4)
    est = budget.estimate_work(9000, 9000, cfg)  # 81 MP in, 1.3 GP out
    assert est.out_pixels == 81_000_000 * 16
    with pytest.raises(WorkTooLargeError, match=r"36000x36000 = 1,296,000,000 output pixels"):
        budget.check_work(est, budget.DEFAULT_MAX_OUTPUT_PIXELS, "big.png")
    # Raised limit, but a machine with 1 GB of memory and 1 GB of disk: refused with figures.
    with pytest.raises(WorkTooLargeError, match="only 1.0 GB of memory and 1.0 GB"):
        budget.check_work(est, None, "big.png", ram=10**9, temp_disk=10**9)
    # The same image at x2 with room to spare goes ahead.
    small = budget.estimate_work(900, 900, variant_config("T", 2))
    budget.check_work(small, budget.DEFAULT_MAX_OUTPUT_PIXELS, "ok.png", ram=8 << 30)


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that declares width x height and holds no pixels (65 bytes)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_work_is_judged_from_the_header_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "declared.png"
    _png_header_only(path, 6000, 6000)
    declared = budget.declared_image(path)
    assert declared == budget.DeclaredImage(6000, 6000, 8, False)
    # 36 MP x2 with SeemoRe-T: allowed, but long enough that the estimate is stated.
    notes = budget.guard_work(path, variant_config("T", 2), 89_478_485)
    assert len(notes) == 1 and "x2 output 12000x12000 = 144.0 megapixels" in notes[0]
    # Above Pillow's own bomb limit the header is still read (ours is the one that counts).
    _png_header_only(path, 20_000, 20_000)
    with pytest.raises(WorkTooLargeError, match="1,600,000,000 output pixels"):
        budget.guard_work(path, variant_config("T", 2), 89_478_485)
    # An explicit limit applies to the output too; None switches the pixel limit off.
    assert budget.output_pixel_limit(5_000_000) == 5_000_000
    assert budget.output_pixel_limit(89_478_485) == budget.DEFAULT_MAX_OUTPUT_PIXELS
    assert budget.output_pixel_limit(None) is None
    # Not an image, or not a regular file: unknown here, left to the decoder to word.
    (tmp_path / "notes.png").write_text("hello")
    assert budget.declared_image(tmp_path / "notes.png") is None
    assert budget.declared_image(tmp_path) is None
