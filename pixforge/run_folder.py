"""A render's run folder: the one table of the files a render keeps there, its writer lock and atomic writes.

``final.png`` (the image, carrying its settings), ``settings.yaml`` (the resolved settings, for ``--resume``),
``run.json`` (how the render ended), ``checkpoint.pt`` (for ``--resume``) and ``losses.csv`` (the
``loss_log`` observer), and the files a generator adds beside final.png (``final.svg``, see
``Generator.extra_files``). Every file is written atomically, so a reader never finds a half-written one.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from .locks import run_folder_lock
from .outputs import atomic_write_bytes, atomic_write_text


@dataclass(frozen=True)
class RunFolder:
    """The files of one render's folder, by what they hold."""

    path: Path

    FINAL: ClassVar[str] = "final.png"
    SETTINGS: ClassVar[str] = "settings.yaml"
    STATUS: ClassVar[str] = "run.json"
    CHECKPOINT: ClassVar[str] = "checkpoint.pt"
    LOSSES: ClassVar[str] = "losses.csv"
    #: the layout a render starts from (``pixforge.layout``), its candidates' run folders under ``candidates/``
    LAYOUT: ClassVar[str] = "layout"

    @property
    def final(self) -> Path:
        return self.path / self.FINAL

    @property
    def settings(self) -> Path:
        return self.path / self.SETTINGS

    @property
    def status(self) -> Path:
        return self.path / self.STATUS

    @property
    def checkpoint(self) -> Path:
        return self.path / self.CHECKPOINT

    @property
    def losses(self) -> Path:
        return self.path / self.LOSSES

    def lock(self) -> AbstractContextManager[None]:
        """The writer lock a render holds while it writes here (a second render is refused at once)."""
        return run_folder_lock(self.path)

    def write_text(self, name: str, text: str) -> None:
        """Write one of the folder's files atomically (``RunFolder.SETTINGS``, say)."""
        atomic_write_text(self.path / name, text)

    def write_bytes(self, name: str, data: bytes) -> None:
        atomic_write_bytes(self.path / name, data)

    def extra_files(self) -> list[Path]:
        """The files a generator wrote beside final.png (``final.svg``, say): ``final.<ext>`` other than it."""
        return sorted(p for p in self.path.glob("final.*") if p.name != self.FINAL and EXTRA_FILE.fullmatch(p.name))


def is_layout_candidate(run_dir: Path) -> bool:
    """Whether ``run_dir`` is one of a layout's candidate renders (``RUN/layout/candidates/NAME``): observers
    see those runs start before the render's own."""
    parts = run_dir.parts
    return len(parts) >= 3 and parts[-3] == RunFolder.LAYOUT and parts[-2] == "candidates"


#: what a generator's extra files are called: ``final.`` and a short lower-case extension (``final.svg``)
EXTRA_FILE = re.compile(r"final\.[a-z0-9]{1,8}")


def extra_file_name(name: str) -> str:
    """``name`` when it is a valid extra file name (``final.svg``); a plugin's mistake otherwise."""
    if not EXTRA_FILE.fullmatch(name) or name == RunFolder.FINAL:
        raise ValueError(f"a generator's extra file must be called final.<ext> (not final.png), got {name!r}")
    return name
