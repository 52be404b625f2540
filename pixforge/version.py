"""The package version, written here only: ``pyproject.toml`` reads it (setuptools ``dynamic``), and any module can
name it without importing the package face."""

from __future__ import annotations

__version__ = "0.1.0"
