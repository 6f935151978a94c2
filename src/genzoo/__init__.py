"""genzoo: train, evaluate and explore autoencoders, VAEs and GANs behind one CLI and one Python API."""

from genzoo.api import load, reconstruct, resume, sample, train
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
    "kl_divergence",
    "load",
    "reconstruct",
    "resume",
    "sample",
    "train",
]
