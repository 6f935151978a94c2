"""genzoo: train, evaluate and explore autoencoders, VAEs and GANs behind one CLI and one Python API."""

from genzoo.api import compare, evaluate, load, reconstruct, report, resume, sample, serve, train
from genzoo.config import DataConfig, RunConfig, TrainConfig
from genzoo.errors import CapabilityError, GenzooError
from genzoo.evaluate.divergence import kl_divergence

__version__ = "0.1.0"
__all__ = [
    "CapabilityError",
    "DataConfig",
    "GenzooError",
    "RunConfig",
    "TrainConfig",
    "compare",
    "evaluate",
    "kl_divergence",
    "load",
    "reconstruct",
    "report",
    "resume",
    "sample",
    "serve",
    "train",
]
