"""The checks every config value goes through, with one wording: the full dotted key, the value, what was expected.

    train.lr=0.0 is out of range; expected a value > 0          a number outside its range (`check`, `positive`, ...)
    model.precision='fp16'; expected one of auto, fp32, bf16    a value of the wrong kind or not among the choices
    model.tied=true needs network=mlp (got network=conv)        a value that does not go with another setting

Keys are always passed whole (`model.beta`, `data.channels`), never the bare field name, so a message can be pasted
back as `--set KEY=VALUE`. Nothing here imports the rest of genzoo except its errors: any layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from genzoo.errors import GenzooError


def shown(value: Any) -> str:
    """A value as the user would write it in YAML: tuples as lists, booleans lower case, NaN as nan."""
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def out_of_range(key: str, value: Any, expected: str) -> GenzooError:
    return GenzooError(f"{key}={shown(value)} is out of range; expected {expected}")


def invalid(key: str, value: Any, expected: str) -> GenzooError:
    """A value of the wrong kind, or a name that is not one of the choices (shown quoted: it may be empty)."""
    return GenzooError(f"{key}={value!r}; expected {expected}")


def conflict(key: str, value: Any, needs: str) -> GenzooError:
    """A value that cannot go with another setting: `model.free_bits=0.5 needs objective=elbo: ...`."""
    return GenzooError(f"{key}={shown(value)} needs {needs}")


def check(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise out_of_range(key, value, expected)


def positive(key: str, value: float | int | None) -> None:
    """value > 0, or None (unset). `not value > 0` also refuses NaN."""
    if value is not None and not value > 0:
        raise out_of_range(key, value, "a value > 0")


def at_least(key: str, value: float | int, low: float | int, note: str = "") -> None:
    if not value >= low:
        raise out_of_range(key, value, f">= {low}{note and f' ({note})'}")


def sizes(key: str, values: Iterable[int], non_empty: bool = False) -> None:
    """Layer widths or channel counts: every one > 0 (and at least one when `non_empty`)."""
    values = list(values)
    if (non_empty and not values) or not all(v > 0 for v in values):
        raise out_of_range(key, values, "a non-empty list of sizes > 0" if non_empty else "sizes > 0")


def adam_betas(key: str, betas: Iterable[float]) -> None:
    """Adam's (beta1, beta2), each in [0, 1)."""
    betas = list(betas)
    if not all(0 <= b < 1 for b in betas):
        raise out_of_range(key, betas, "two values in [0, 1)")


def one_of(key: str, value: Any, choices: Iterable[Any]) -> None:
    """For a setting that a type annotation cannot hold to its choices (a config built in Python skips them)."""
    choices = list(choices)
    if value not in choices:
        raise invalid(key, value, f"one of {', '.join(map(str, choices))}")
