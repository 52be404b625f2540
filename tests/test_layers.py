"""No import in pixforge/ runs back up a floor: each module imports only from its own floor or below.

Imports are read from the source (function-level ones included; ``if TYPE_CHECKING:`` blocks, which never
run, left out). A new module must be placed on a floor here, so where it sits is a decision, not an accident.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pixforge

ROOT = Path(pixforge.__file__).parent

#: bottom to top; a module may import modules on its own floor or a lower one, never a higher one
FLOORS: list[list[str]] = [
    # plain helpers that know nothing of pixforge
    ["version", "canvas", "seamless", "console", "terminal", "errors", "executor_options", "noise", "precision", "numerics", "seeding", "sheet", "augment",
     "weights.entries", "weights.progress", "animation", "animation.schedules", "animation.scenes", "animation.warp"],
    # the command line's light helpers: lazy exports, shared options, the peers' flags
    ["lazy", "options", "peer_flags"],
    # files, settings, trust, locks, --set overrides: what every layer above may name
    ["overrides"],
    ["files", "settings", "filter_values", "trust", "registration", "budget", "devices", "prompts", "locks", "faults",
     "animation.settings"],
    # images on disk, the run folder, cutouts, the optimiser, named weights
    ["outputs", "run_folder", "cutouts", "regions", "transparency", "optim", "fit", "weights.cache", "weights.download", "weights.openclip", "weights.registry",
     "weights.safe_load", "weights", "animation.video"],
    # the component contracts, the settings schema, checkpoints, what a render gives back
    ["components", "config", "resume", "results", "filters"],
    # the kinds table, hook specs, built-in observers, the loop
    ["kinds", "hookspecs", "profiling", "progress", "recording", "engine"],
    # the plugin manager and best-of-N scoring
    ["plugins", "candidates"],
    # resolution against the registry, and the contract tests for plugin authors
    ["resolve", "testing.dummies", "testing.base", "testing.generators", "testing.contracts", "testing"],
    ["layout", "pipeline", "staging"],
    # animations: frame by frame over the pipeline
    ["animation.frames", "animation.stylize"],
    ["executors", "sweep.spec", "sweep.plan", "sweep.job", "sweep.summary", "sweep.executors", "sweep.run", "sweep"],
    ["models_cli", "sweep_cli", "animation_cli", "cli"],
]
FLOOR = {name: level for level, names in enumerate(FLOORS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split(".")) if name else ROOT
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """The pixforge modules (names relative to the package, "" for the package face) ``path`` imports at run time."""
    return imports_in(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")


def imports_in(source: str, name: str, is_package: bool) -> set[str]:
    """The pixforge modules the source of module ``name`` imports at run time."""
    package = name.split(".") if is_package else name.split(".")[:-1]
    if not name:
        package = []
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package[: len(package) - (child.level - 1)]
                    target = ".".join([*base, *([child.module] if child.module else [])])
                elif child.module and (child.module == "pixforge" or child.module.startswith("pixforge.")):
                    target = child.module.removeprefix("pixforge").lstrip(".")
                else:
                    continue
                submodules = [f"{target}.{a.name}".lstrip(".") for a in child.names]
                submodules = [s for s in submodules if _is_module(s)]
                if len(submodules) < len(child.names):  # some names are attributes of the target itself
                    found.add(target)
                found.update(submodules)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name == "pixforge" or alias.name.startswith("pixforge."):
                        found.add(alias.name.removeprefix("pixforge").lstrip("."))
            visit(child)

    visit(ast.parse(source))
    found.discard(name)
    return found


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py")) if module_name(path)}


def test_every_module_is_on_a_floor() -> None:
    missing = sorted(set(MODULES) - set(FLOOR))
    assert not missing, f"place these modules on a floor in tests/test_layers.py: {missing}"
    assert not sorted(set(FLOOR) - set(MODULES)), "a floor names a module that no longer exists"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_runs_up_a_floor(name: str) -> None:
    upward = sorted(
        target for target in imports_of(MODULES[name]) if target == "" or FLOOR.get(target, -1) > FLOOR[name]
    )
    shown = [target or "pixforge (the package face)" for target in upward]
    assert not upward, f"pixforge.{name} (floor {FLOOR[name]}) imports from higher floors: {shown}"


def test_the_checker_sees_an_upward_import() -> None:
    """The parser finds relative, absolute and function-level imports, and skips TYPE_CHECKING blocks."""
    source = (
        "from typing import TYPE_CHECKING\nfrom . import __version__, hookspecs\nfrom .config import RenderConfig\n"
        "if TYPE_CHECKING:\n    from .pipeline import Pipeline\n"
        "def f():\n    from pixforge.engine import Engine\n    import pixforge.cli\n    from ..errors import X\n"
    )
    assert imports_in(source, "weights.probe", is_package=False) == {"weights", "weights.config", "errors", "engine", "cli"}
    assert imports_in(source, "probe", is_package=False) >= {"", "hookspecs", "config"}
