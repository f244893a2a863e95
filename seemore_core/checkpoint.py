"""Reading and writing SeemoRe weights: the only module that touches weight files.

Reads the authors' and community checkpoints (.pth/.pt, BasicSR `{"params_ema": ...}` /
`{"params": ...}` or a bare state dict) with `torch.load(weights_only=True)`, so a file
carrying code is refused without running it, and our own `.safetensors` files, which keep
the hyperparameters in their metadata. Hyperparameters that a state dict cannot show
come from that metadata, else the variants table, else the reference's defaults.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import budget
from .arch import VARIANTS, SeemoRe, SeemoreConfig
from .arch.config import GROWTHS, expert_ranks
from .atomic import write_bytes_atomic
from .errors import CheckpointError
from .names import SAFETENSORS_SUFFIX

CONFIG_META_KEY = "seemore_config"
_EXPERT_KEY = re.compile(
    r"^body\.0\.local_block\.block\.moe_layer\.experts\.(\d+)\.conv_1\.weight$"
)
_BODY_KEY = re.compile(r"^body\.(\d+)\.")


@dataclass
class Checkpoint:
    """A state dict with what we know about it."""

    path: Path | None
    state_dict: dict[str, torch.Tensor]
    config: SeemoreConfig
    metadata: dict[str, str] = field(default_factory=dict)
    source: str = ""  # which wrapper key held the weights, e.g. "params_ema"

    @property
    def params(self) -> int:
        """Parameters of the network, by formula: nothing is built to count them."""
        return budget.network_params(self.config)


def _fail(path: Path | None, why: str) -> CheckpointError:
    name = str(path) if path is not None else "<state dict>"
    return CheckpointError(f"{name}: {why}")


# The first bytes of torch.save's legacy (pre-1.6, non-zip) format: a protocol-2 pickle
# of its magic number 0x1950A86A20F9469CFC6C.
_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."
# A torch zip holds a few files per tensor; far more entries is not a checkpoint.
_MAX_ZIP_ENTRIES = 100_000
# torch stores records uncompressed; a compressed one may not inflate beyond this ratio
# (float weights deflate by about 1.1x, a bomb by 1000x).
_MAX_COMPRESSION_RATIO = 20


def _stat_file(path: Path) -> int:
    """The size of the regular file at ``path``; CheckpointError for anything else."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except OSError as e:
        raise _fail(path, f"cannot open: {_os_reason(e)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise _fail(path, "not a regular file (it is a folder)")
    if not stat.S_ISREG(st.st_mode):
        raise _fail(path, "not a regular file (a device, pipe or socket)")
    if st.st_size > budget.MAX_CHECKPOINT_BYTES:
        raise _fail(
            path,
            f"the file is {st.st_size / 1e6:,.0f} MB, more than any supported SeemoRe "
            f"checkpoint ({budget.MAX_CHECKPOINT_BYTES / 1e6:,.0f} MB at most)",
        )
    return st.st_size


def _os_reason(e: OSError) -> str:
    if e.errno == errno.ELOOP:
        return "the path is a loop of symbolic links"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return e.strerror or type(e).__name__


def _check_zip_records(path: Path, size: int) -> None:
    """Refuse a zip whose records would inflate beyond the budget, before torch reads it.

    torch allocates each record at its declared size and inflates compressed ones, so a
    2 MB file of deflated zeros could otherwise take gigabytes.
    """
    import zipfile

    try:
        with open(path, "rb") as f:
            end = zipfile._EndRecData(f)  # type: ignore[attr-defined]  # stdlib, stable
        if end is None:
            raise zipfile.BadZipFile("no end of central directory")
        if end[zipfile._ECD_ENTRIES_TOTAL] > _MAX_ZIP_ENTRIES:  # type: ignore[attr-defined]
            raise _fail(path, f"the archive lists {end[4]:,} entries; not a checkpoint")
        with zipfile.ZipFile(path) as z:
            records = z.infolist()
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise _fail(
            path, f"cannot read as a PyTorch checkpoint: damaged zip archive ({e})"
        ) from None
    declared = 0
    for r in records:
        declared += r.file_size
        if r.compress_type == zipfile.ZIP_STORED:
            if r.file_size != r.compress_size:
                raise _fail(
                    path,
                    f"record {r.filename!r} declares {r.file_size:,} bytes but "
                    f"stores {r.compress_size:,}; the file is damaged",
                )
        elif r.file_size > _MAX_COMPRESSION_RATIO * r.compress_size + (1 << 20):
            raise _fail(
                path,
                f"record {r.filename!r} inflates from {r.compress_size:,} to {r.file_size:,} "
                f"bytes (a compression bomb); refused before reading it",
            )
    if declared > budget.MAX_CHECKPOINT_BYTES:
        raise _fail(
            path,
            f"its records declare {declared / 1e6:,.0f} MB, more than any supported SeemoRe "
            f"checkpoint ({budget.MAX_CHECKPOINT_BYTES / 1e6:,.0f} MB at most)",
        )


def _not_torch_reason(head: bytes) -> str:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(ch.isprintable() or ch in "\r\n\t\f" for ch in text):
        return "this is a text file, not a checkpoint"
    return "not a file written by torch.save (neither its zip format nor its legacy format)"


def _is_code_refusal(message: str) -> bool:
    """Whether torch's weights_only unpickler refused a callable (rather than failing to
    parse the file): only then is "possible code" true."""
    low = message.lower()
    return "unsupported global" in low or "unsupported class" in low or "allowlist" in low


def _read_raw(path: Path) -> tuple[Mapping[str, Any], dict[str, str]]:
    size = _stat_file(path)
    if path.suffix.lower() == SAFETENSORS_SUFFIX:
        from safetensors import SafetensorError
        from safetensors.torch import load_file, safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = dict(f.metadata() or {})
            return load_file(str(path), device="cpu"), meta
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise _fail(path, f"not a readable safetensors file ({e})") from None
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError as e:
        raise _fail(path, f"cannot open: {_os_reason(e)}") from None
    if head.startswith(b"PK"):
        _check_zip_records(path, size)
    elif not head.startswith(_LEGACY_MAGIC):
        why = _not_torch_reason(head) if head else "the file is empty (0 bytes)"
        raise _fail(path, f"cannot read as a PyTorch checkpoint: {why}")
    try:
        # weights_only: a pickle that names any callable outside torch's tensor
        # rebuilders is rejected before anything in it runs.
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt files; all mean "bad file"
        text = str(e).strip()
        if _is_code_refusal(text):
            msg = "refused: the file contains Python objects other than tensors (possible code)"
        else:
            # torch's own wording suggests weights_only=False, which we never do: keep
            # the specific line (the last one that names the problem) only.
            lines = [ln for ln in text.splitlines() if ln.strip()]
            detail = lines[0] if lines else type(e).__name__
            if detail.startswith("Weights only load failed") and len(lines) > 1:
                detail = next((ln for ln in lines[1:] if "weights_only" not in ln), lines[-1])
            msg = f"the file is damaged ({detail.strip()[:200]})"
        raise _fail(path, f"cannot read as a PyTorch checkpoint: {msg}") from None
    if not isinstance(obj, Mapping):
        raise _fail(path, f"expected a dict of tensors, found {type(obj).__name__}")
    return obj, {}


def _unwrap(path: Path | None, obj: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], str]:
    source = ""
    for key in ("params_ema", "params", "state_dict", "model"):
        if key in obj and isinstance(obj[key], Mapping):
            obj, source = obj[key], key
            break
    sd: dict[str, torch.Tensor] = {}
    for k, v in obj.items():
        if not isinstance(k, str):
            raise _fail(path, f"state-dict key {k!r} is not a string")
        if not isinstance(v, torch.Tensor):
            raise _fail(path, f"value of {k!r} is a {type(v).__name__}, not a tensor")
        # DDP-trained weights carry a "module." prefix on every key.
        sd[k.removeprefix("module.")] = v
    return sd, source


def _dense(t: torch.Tensor) -> bool:
    """Whether ``t`` covers its whole storage once: no stride 0, no overlap, no slack."""
    if t.storage_offset() != 0:
        return False
    if t.untyped_storage().nbytes() != t.numel() * t.element_size():
        return False
    expected = 1
    for step, size in sorted(
        (st, sz) for st, sz in zip(t.stride(), t.shape, strict=True) if sz > 1
    ):
        if step != expected:
            return False
        expected *= size
    return True


def _check_tensors(
    path: Path | None, sd: Mapping[str, torch.Tensor], file_size: int | None
) -> None:
    """Bound what the state dict can cost before anything is built from it.

    A tensor saved as a view with stride 0 stands for billions of values with one stored
    number: its shape passes every check and the copy into a network takes all the
    memory. So every tensor must own its storage exactly, none may share one, their
    values must fit in the file they came from, and their count in the budget.
    """
    seen: dict[int, str] = {}
    values = nbytes = 0
    for k, t in sd.items():
        values += t.numel()
        nbytes += t.numel() * t.element_size()
        if not _dense(t):
            raise _fail(
                path,
                f"tensor {k!r} of shape {tuple(t.shape)} is not stored in full "
                f"(strides {t.stride()} over {t.untyped_storage().nbytes():,} stored bytes); "
                "a checkpoint's tensors must own their data",
            )
        if t.numel():
            ptr = t.untyped_storage().data_ptr()
            if ptr in seen:
                raise _fail(path, f"tensors {seen[ptr]!r} and {k!r} share their data")
            seen[ptr] = k
    if values > budget.MAX_NETWORK_PARAMS:
        raise _fail(
            path,
            f"its state dict holds {values:,} values, more than the {budget.MAX_NETWORK_PARAMS:,} "
            "parameters of the largest supported network (8 x SeemoRe-L)",
        )
    if file_size is not None and nbytes > file_size:
        raise _fail(
            path, f"its tensors declare {nbytes:,} bytes, more than the file's {file_size:,}"
        )


_MAX_WIDTH, _MAX_LAYERS, _MAX_EXPERTS, _MAX_KERNEL, _MAX_RECURSIVE = 1024, 128, 32, 63, 5


def _shape(
    sd: Mapping[str, torch.Tensor], key: str, ndim: int, path: Path | None
) -> tuple[int, ...]:
    if key not in sd:
        raise _fail(path, f"not a SeemoRe checkpoint: missing {key!r}")
    shape = tuple(sd[key].shape)
    if len(shape) != ndim:
        raise _fail(path, f"{key} has shape {shape}, expected a {ndim}-D tensor")
    return shape


def _stored_hidden(raw: str, path: Path | None) -> dict[str, Any]:
    """The hyperparameters a state dict cannot show, from our metadata, checked."""
    try:
        stored = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise _fail(path, f"metadata {CONFIG_META_KEY!r} is not valid JSON") from None
    if not isinstance(stored, dict):
        raise _fail(path, f"metadata {CONFIG_META_KEY!r} is not a JSON object")
    out: dict[str, Any] = {}
    for key in ("topk", "recursive"):
        if key in stored:
            v = stored[key]
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= _MAX_RECURSIVE * 8:
                raise _fail(path, f"metadata {key}={v!r} is not a small positive integer")
            out[key] = v
    if out.get("recursive", 1) > _MAX_RECURSIVE:
        raise _fail(path, f"metadata recursive={out['recursive']} exceeds {_MAX_RECURSIVE}")
    if "use_shuffle" in stored:
        if not isinstance(stored["use_shuffle"], bool):
            raise _fail(path, f"metadata use_shuffle={stored['use_shuffle']!r} is not true/false")
        out["use_shuffle"] = stored["use_shuffle"]
    if "img_range" in stored:
        v = stored["img_range"]
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1e6:
            raise _fail(path, f"metadata img_range={v!r} is not a positive number")
        out["img_range"] = float(v)
    return out


def detect_config(
    state_dict: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> SeemoreConfig:
    """Infer the hyperparameters of a SeemoRe state dict, as the reference describes."""
    sd = state_dict
    for key in ("conv_1.weight", "upsampler.0.weight", "norm.weight"):
        if key not in sd:
            sample = ", ".join(list(sd)[:4]) or "none"
            raise _fail(path, f"not a SeemoRe checkpoint: no {key!r} (first keys: {sample})")
    c = _shape(sd, "conv_1.weight", 4, path)[0]
    out = _shape(sd, "upsampler.0.weight", 4, path)[0]
    scale = math.isqrt(out // 3) if out % 3 == 0 else 0
    if scale * scale * 3 != out or not 1 <= scale <= 4:
        raise _fail(path, f"upsampler.0.weight has {out} output channels, not 3*s*s for s in 1-4")
    layers = 1 + max((int(m.group(1)) for k in sd if (m := _BODY_KEY.match(k))), default=-1)
    if layers < 1:
        raise _fail(path, "not a SeemoRe checkpoint: no residual groups (body.N.*)")
    experts = sorted(int(m.group(1)) for k in sd if (m := _EXPERT_KEY.match(k)))
    if not experts or experts != list(range(len(experts))):
        raise _fail(path, "not a SeemoRe checkpoint: body.0 has no moe_layer experts 0..E-1")
    ranks = tuple(
        _shape(sd, f"body.0.local_block.block.moe_layer.experts.{j}.conv_1.weight", 4, path)[0]
        for j in experts
    )
    growth = next((g for g in GROWTHS if expert_ranks(len(ranks), g) == ranks), None)
    if growth is None:
        raise _fail(path, f"expert widths {ranks} match no known growth ({', '.join(GROWTHS)})")
    kernel = _shape(sd, "body.0.global_block.block.attn.conv.0.weight", 4, path)[-1]
    # Sizes far beyond any SeemoRe are refused before anything is built from them:
    # a 1 KB file could otherwise declare a network of tens of gigabytes.
    for what, value, top in (
        ("width", c, _MAX_WIDTH),
        ("layers", layers, _MAX_LAYERS),
        ("experts", len(ranks), _MAX_EXPERTS),
        ("kernel size", kernel, _MAX_KERNEL),
    ):
        if value > top:
            raise _fail(path, f"implausible {what} {value} (at most {top} supported)")

    hidden: dict[str, Any] = {"use_shuffle": True, "recursive": 2, "topk": 1, "img_range": 1.0}
    for v in VARIANTS.values():
        if (v.num_layers, v.embedding_dim) == (layers, c):
            hidden.update(use_shuffle=v.use_shuffle, recursive=v.recursive, topk=v.topk)
            break
    if metadata and CONFIG_META_KEY in metadata:
        hidden.update(_stored_hidden(metadata[CONFIG_META_KEY], path))
    try:
        return SeemoreConfig(
            scale=scale,
            num_layers=layers,
            embedding_dim=c,
            num_experts=len(ranks),
            growth=growth,
            kernel_size=kernel,
            topk=int(hidden["topk"]),
            use_shuffle=bool(hidden["use_shuffle"]),
            recursive=int(hidden["recursive"]),
            img_range=float(hidden["img_range"]),
        )
    except (ValueError, TypeError) as e:
        raise _fail(path, f"inconsistent hyperparameters: {e}") from None


def _check_keys(path: Path | None, model: SeemoRe, sd: Mapping[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s), e.g. {', '.join(missing[:3])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s), e.g. {', '.join(unexpected[:3])}")
    if problems:
        raise _fail(path, "state dict does not match the detected network: " + "; ".join(problems))
    for k, t in expected.items():
        if tuple(sd[k].shape) != tuple(t.shape):
            raise _fail(
                path,
                f"shape mismatch at {k}: file has {tuple(sd[k].shape)}, "
                f"network expects {tuple(t.shape)}",
            )
        if not sd[k].is_floating_point():
            raise _fail(path, f"{k} holds {sd[k].dtype}, not floating-point weights")


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    p = Path(path)
    raw, meta = _read_raw(p)
    sd, source = _unwrap(p, raw)
    _check_tensors(p, sd, p.stat().st_size)
    cfg = detect_config(sd, meta, p)
    budget.check_network(cfg, str(p))
    return Checkpoint(p, sd, cfg, meta, source)


def model_from_state_dict(
    sd: Mapping[str, torch.Tensor],
    config: SeemoreConfig | None = None,
    path: Path | None = None,
) -> SeemoRe:
    _check_tensors(path, sd, None)
    cfg = config or detect_config(sd, None, path)
    budget.check_network(cfg, str(path) if path is not None else "<state dict>")
    # Check keys and shapes against a network on the meta device (no memory), so a file
    # that declares something odd is refused before real tensors are allocated for it.
    with torch.device("meta"):
        _check_keys(path, SeemoRe(cfg), sd)
    model = SeemoRe(cfg)
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    return model.eval()


def load_model(path: str | os.PathLike[str]) -> SeemoRe:
    """A SeemoRe network from a checkpoint file, in eval mode on the CPU.

    Raises `CheckpointError` (naming the file and the problem) for anything that is not
    a loadable SeemoRe checkpoint.
    """
    ck = read_checkpoint(path)
    return model_from_state_dict(ck.state_dict, ck.config, ck.path)


def save_safetensors(
    model: SeemoRe,
    path: str | os.PathLike[str],
    extra_metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write weights under the authors' key names with the hyperparameters in metadata.

    The write is atomic (`seemore_core.atomic`): fsynced, then renamed over the target.
    """
    from safetensors.torch import save

    p = Path(path)
    meta = {CONFIG_META_KEY: json.dumps(model.cfg.to_dict()), "format": "pt"}
    meta.update(extra_metadata or {})
    tensors = {
        k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()
    }
    return write_bytes_atomic(p, save(tensors, metadata=meta), overwrite=True)
