"""genzoo: train, evaluate and explore autoencoders, VAEs and GANs behind one CLI and one Python API.

The namespace is lazy: `import genzoo` loads neither torch nor any model, and each name below is imported on
first use (`genzoo.train` brings in the trainer, `genzoo.kl_divergence` only the divergence module), so the
command line starts in the time its command needs.
"""

from __future__ import annotations

import importlib

# Three subpackages share their names with API functions (genzoo.train the trainer's package, genzoo.train() the
# function). Loading the packages here (their __init__ files are empty) and then dropping the names means that
# importing one of their modules later never rebinds genzoo.train, genzoo.evaluate or genzoo.report to a package:
# the names always reach __getattr__ below and stay the functions.
for _package in ("evaluate", "report", "train"):
    importlib.import_module(f"genzoo.{_package}")
    del globals()[_package]

__version__ = "0.1.0"

# name -> the module that defines it
_EXPORTS = {
    **dict.fromkeys(
        (
            "compare",
            "evaluate",
            "evaluate_images",
            "load",
            "reconstruct",
            "report",
            "resume",
            "sample",
            "serve",
            "train",
        ),
        "genzoo.api",
    ),
    **dict.fromkeys(("DataConfig", "RunConfig", "TrainConfig"), "genzoo.config"),
    **dict.fromkeys(("CapabilityError", "GenzooError"), "genzoo.errors"),
    # your own models: the contract's classes and the registry's decorator (genzoo.testing checks a class)
    **dict.fromkeys(("GenerativeModel", "ModelConfig", "OptimizerGroup", "StepOutput"), "genzoo.models.base"),
    "register": "genzoo.models.registry",
    "kl_divergence": "genzoo.evaluate.divergence",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'genzoo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
