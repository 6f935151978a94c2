"""Model registry: name -> class. A model file registers its classes with `@register`; nothing dispatches on names.

Importing this module runs genzoo/models/__init__.py first (Python loads a package before its modules), and that
imports every model family: by the time anything here is called, every model is registered.
"""

from __future__ import annotations

from genzoo.errors import unknown

MODELS: dict[str, type] = {}


def register(cls: type) -> type:
    if cls.name in MODELS:
        raise ValueError(f"model name {cls.name!r} registered twice")
    MODELS[cls.name] = cls
    return cls


def get_model_class(name: str) -> type:
    if name not in MODELS:
        raise unknown("model", name, MODELS)
    return MODELS[name]


def model_names() -> list[str]:
    return sorted(MODELS)
