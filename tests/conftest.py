"""Shared test setup: offline, small, and no stray output folders."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PIXFORGE_LOAD_PLUGINS", "")  # tests see only first-party plugins unless they opt in

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path, monkeypatch):
    """Renders without --out write under the current folder: keep that inside the test's tmp dir."""
    monkeypatch.chdir(tmp_path)
