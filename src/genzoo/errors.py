"""Errors a user can fix. The CLI prints them in one line and exits 2; the API raises them as they are."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GenzooError(Exception):
    """Bad input: a file, key or value that is not what genzoo expects. The message says what to fix."""


class CapabilityError(GenzooError):
    """A verb asked of a model that cannot do it (a GAN has no encoder, a plain autoencoder no prior)."""


def unknown(kind: str, name: str, known: Iterable[str], prefix: str = "") -> GenzooError:
    """`unknown model 'vea' (did you mean 'vae'?); known: ae, vae`. `prefix` is shown before every name
    (e.g. "model.") but plays no part in finding the close ones."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(repr(prefix + c) for c in close)}?)" if close else ""
    return GenzooError(f"unknown {kind} {prefix + name!r}{hint}; known: {', '.join(prefix + k for k in known)}")
