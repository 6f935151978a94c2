"""Model registry: name -> class. A model file registers its classes with `@register`; nothing dispatches on names."""

from __future__ import annotations

from genzoo.errors import unknown

MODELS: dict[str, type] = {}


def register(cls: type) -> type:
    if cls.name in MODELS:
        raise ValueError(f"model name {cls.name!r} registered twice")
    MODELS[cls.name] = cls
    return cls


def get_model_class(name: str) -> type:
    import genzoo.models  # noqa: F401  (importing the package registers every model)

    if name not in MODELS:
        raise unknown("model", name, MODELS)
    return MODELS[name]


def model_names() -> list[str]:
    import genzoo.models  # noqa: F401

    return sorted(MODELS)
