"""The package's layers, read from the source: every `import` of every module (at module level and inside
functions alike: an import hidden in a function is still a dependency) must go down the table below, and the
modules must not import each other in a cycle. Nothing is imported to check this; the files are parsed."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "genzoo"

# What each part of genzoo may import directly: the parts listed, and everything those may import in turn (a part
# always may import its own modules). A part is a subpackage (data/, models/, ...) or a top-level module. Read
# bottom to top: errors, files and checks use nothing of genzoo; the run folder reads what the trainer writes and
# sits under both the trainer and the readers (evaluation, reports), which never import each other.
BENEATH: dict[str, tuple[str, ...]] = {
    "errors": (),
    "files": (),  # atomic writes, hashes, fsync, umask
    "checks": ("errors",),  # the shared validation of config values, one wording
    "data": ("checks", "files"),  # data types, IDX reader, data set registry, image folders, batches
    "nets": ("data",),  # shared network blocks
    "models": ("nets",),  # the model contract (with ModelConfig), the families, the registry
    "config": ("models",),  # the run config: composes a model's config, named through the registry
    "samplers": ("models",),  # ex-post samplers over a model's codes
    "explore": ("models",),  # grids, latent walks, plots
    "run_folder": ("config",),  # a run's layout: config, checkpoints, metrics, model, data
    "train": ("run_folder", "explore"),  # the one loop; the only writer of a run folder
    "evaluate": ("run_folder", "samplers", "explore"),  # reads runs, never the trainer
    "report": ("evaluate",),  # HTML report and the local server: reads runs
    "api": ("train", "report"),  # the facade
    "testing": ("train",),  # the model contract's checks for users' own model classes
    "cli": ("api",),
    "__main__": ("cli",),
    "__init__": (),  # genzoo's lazy namespace: names resolved with importlib, no import statements
}


def allowed(part: str) -> set[str]:
    """`part` and every part beneath it, transitively."""
    seen, todo = {part}, list(BENEATH[part])
    while todo:
        below = todo.pop()
        if below not in seen:
            seen.add(below)
            todo.extend(BENEATH[below])
    return seen


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def part_of(module: str) -> str:
    """genzoo.data.types -> data, genzoo.run_folder -> run_folder, genzoo -> __init__."""
    return module.split(".")[1] if "." in module else "__init__"


def is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def imports(module: str) -> set[str]:
    """The genzoo modules `module` imports anywhere in its file (a `from pkg import name` counts as importing
    pkg.name when that is a module, else pkg)."""
    package = module if is_package(module) else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from ..data import y
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {name for name in found if name in MODULES and name != module}


GRAPH = {module: imports(module) for module in MODULES}


def test_every_part_of_the_package_is_in_the_table():
    assert {part_of(m) for m in MODULES} <= BENEATH.keys(), "a new part of genzoo: give it its place in BENEATH"


def test_imports_go_down_the_layers():
    wrong = sorted(
        (importer, imported)
        for importer, targets in GRAPH.items()
        for imported in targets
        if part_of(imported) not in allowed(part_of(importer))
    )
    assert not wrong, "\n".join(
        f"{a} imports {b} ({part_of(a)} may import {', '.join(sorted(allowed(part_of(a))))})" for a, b in wrong
    )


def test_no_import_cycles():
    """No two modules import each other, however indirectly and wherever in the file. A module's import of its
    own package (the model registry loading genzoo.models so that every model registers) is not a cycle to mend:
    the package's __init__ exists to gather its modules."""

    def edges(module: str) -> set[str]:
        own_packages = {module.rsplit(".", n)[0] for n in range(1, module.count(".") + 1)}
        return {m for m in GRAPH[module] if m not in own_packages}

    cycles = []
    state: dict[str, str] = {}  # module -> "open" while on the current path, "done" once explored

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges(module)):
            if state.get(target) == "open":  # back on the current path: path[target:] -> module -> target
                cycles.append([*path[path.index(target) :], module, target])
            elif target not in state:
                visit(target, [*path, module])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_the_readers_of_a_run_never_import_the_trainer():
    """Spelled out, because it is the rule that keeps the trainer replaceable: data, config, evaluation and
    reports (and the run folder they read through) import nothing from genzoo.train."""
    for importer, targets in GRAPH.items():
        if part_of(importer) in {"data", "config", "evaluate", "report", "run_folder", "explore", "models"}:
            assert not {t for t in targets if part_of(t) == "train"}, importer
