"""Canvas sides, rounded the one way every part of pixforge rounds them: to the nearest multiple a
generator can make (a VQGAN's downsampling factor, say), never below one multiple."""

from __future__ import annotations


def round_to_multiple(value: int, multiple: int) -> int:
    """The nearest multiple of ``multiple`` (at least one multiple); halves go to the even multiple, as
    Python's ``round`` does (100 → 96 for 8)."""
    return max(multiple, int(round(value / multiple)) * multiple)
