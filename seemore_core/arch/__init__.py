"""The SeemoRe network, written from the reference in shared/docs, with its state-dict keys."""

from .config import VARIANTS, SeemoreConfig, expert_ranks, variant_config
from .facts import count_macs, count_params
from .model import RGB_MEAN, SeemoRe, build
from .records import FEATURE_POINTS, BlockRouting, InspectResult, Probe

__all__ = [
    "FEATURE_POINTS",
    "RGB_MEAN",
    "VARIANTS",
    "BlockRouting",
    "InspectResult",
    "Probe",
    "SeemoRe",
    "SeemoreConfig",
    "build",
    "count_macs",
    "count_params",
    "expert_ranks",
    "variant_config",
]
