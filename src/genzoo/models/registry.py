"""Model registry: name -> class. A model file registers its classes with `@register`; nothing dispatches on names.

Importing this module runs genzoo/models/__init__.py first (Python loads a package before its modules), and that
imports every model family: by the time anything here is called, every model is registered.

Your own model classes register the same way, from your code (`@genzoo.register`), or from an installed package
through an entry point in the group `genzoo.models` (pyproject.toml: `[project.entry-points."genzoo.models"]
mymodel = "mypkg.models:MyModel"`, the class or a module that registers its classes): genzoo loads the entry
points the first time a name is not found or the names are listed, so `genzoo train mymodel` and every verb work
for an installed model without anything imported by hand.
"""

from __future__ import annotations

import warnings
from importlib.metadata import entry_points

from genzoo.errors import GenzooError, unknown
from genzoo.models.base import GenerativeModel

MODELS: dict[str, type] = {}
ENTRY_POINT_GROUP = "genzoo.models"
_entry_points_loaded = False


def register(cls: type) -> type:
    """Add a model class to the registry under `cls.name` (a class decorator); returns the class. A class of the
    same module and name registered again (a notebook cell run twice, a module reloaded) replaces the first; another
    class under a taken name is refused in one line."""
    path = f"{cls.__module__}:{cls.__qualname__}" if isinstance(cls, type) else repr(cls)
    if not (isinstance(cls, type) and issubclass(cls, GenerativeModel)):
        raise GenzooError(f"register({path}): expected a subclass of genzoo.models.GenerativeModel")
    missing = [attr for attr in ("name", "summary", "Config") if getattr(cls, attr, None) is None]
    if missing:
        raise GenzooError(f"register({path}): the class sets no {', '.join(missing)}; a model declares all three")
    if not isinstance(cls.name, str) or not cls.name:
        raise GenzooError(f"register({path}): name={cls.name!r}; expected a non-empty string, e.g. 'my-vae'")
    existing = MODELS.get(cls.name)
    if existing is not None and (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
        raise GenzooError(
            f"model name {cls.name!r} is taken by {existing.__module__}:{existing.__qualname__}; give {path} "
            "another name"
        )
    MODELS[cls.name] = cls
    return cls


def load_entry_points() -> None:
    """Import the `genzoo.models` entry points of installed packages (once per process). An entry point that names
    a model class is registered; one that names a module registers its classes by being imported. One that fails
    to load is reported in a warning and skipped."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = point.load()
            if (
                isinstance(loaded, type)
                and issubclass(loaded, GenerativeModel)
                and MODELS.get(loaded.name) is not loaded
            ):
                register(loaded)
        except Exception as exc:  # someone else's package: say which and go on with the rest
            warnings.warn(
                f"the {ENTRY_POINT_GROUP} entry point {point.name} = {point.value} failed to load: "
                f"{type(exc).__name__}: {exc}",
                stacklevel=2,
            )


def get_model_class(name: str) -> type:
    if name not in MODELS:
        load_entry_points()
    if name not in MODELS:
        raise unknown("model", name, MODELS)
    return MODELS[name]


def model_names() -> list[str]:
    load_entry_points()
    return sorted(MODELS)
