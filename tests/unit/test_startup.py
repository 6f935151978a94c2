"""Start-up: what importing genzoo and the quick commands load (behaviour, not timing: each check runs in a fresh
interpreter and reads sys.modules)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Heavy modules no quick command needs: the compiler stack (about a second), plotting, SciPy, scikit-learn and
# TensorBoard are imported only by the verbs that use them.
HEAVY = ("torch._dynamo", "torch._inductor", "matplotlib", "scipy", "sklearn", "tensorboard", "torch.utils.tensorboard")


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code` (output of the code itself is discarded)."""
    script = "import contextlib, io, json, sys\nwith contextlib.redirect_stdout(io.StringIO()):\n"
    script += "".join(f"    {line}\n" for line in code.splitlines())
    script += "print(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_import_genzoo_loads_no_torch():
    modules = loaded_after("import genzoo")
    assert "torch" not in modules
    assert not {m for m in modules if m.startswith("genzoo.") and m.count(".") > 1}  # no module of a subpackage


def test_help_needs_no_torch():
    modules = loaded_after("from genzoo import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass")
    assert "torch" not in modules
    assert "genzoo.cli" in modules


@pytest.mark.parametrize(
    "code",
    [
        "from genzoo import cli\ncli.main(['models'])",
        "from genzoo import cli\ncli.main(['datasets'])",
        "import genzoo.api",
    ],
)
def test_quick_commands_and_the_api_leave_heavy_modules_alone(code):
    modules = loaded_after(code)
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_lazy_names_resolve_and_stay_functions():
    """genzoo.train / evaluate / report are functions even after their namesake subpackages' modules load."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import genzoo, inspect\n"
                "import genzoo.train.trainer, genzoo.report.html, genzoo.evaluate.quality\n"
                "names = ['train', 'evaluate', 'report', 'load', 'kl_divergence', 'RunConfig', 'GenzooError']\n"
                "print(all(callable(getattr(genzoo, n)) and not inspect.ismodule(getattr(genzoo, n)) for n in names))\n"
                "print(sorted(genzoo.__all__) == sorted(n for n in genzoo.__all__ if hasattr(genzoo, n)))\n"
                "try:\n    genzoo.no_such_name\nexcept AttributeError as exc:\n    print(exc)\n"
            ),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.splitlines() == ["True", "True", "module 'genzoo' has no attribute 'no_such_name'"]
