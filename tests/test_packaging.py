"""The wheel holds every package: `pip install .` (the README's first command) must not lose a subpackage."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_in_the_tree_is_in_the_wheel():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    dirs = {name: Path(ROOT, folder) for name, folder in setuptools["package-dir"].items()}
    dirs.setdefault("pixforge", ROOT / "pixforge")
    found = set()
    for top, folder in dirs.items():
        for init in folder.rglob("__init__.py"):
            parts = init.parent.relative_to(folder).parts
            found.add(".".join((top, *parts)))
    assert found - listed == set(), f"packages missing from pyproject.toml: {sorted(found - listed)}"
