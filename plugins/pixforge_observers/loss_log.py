"""The ``loss_log`` observer: each step's losses in ``losses.csv``."""

from __future__ import annotations

import csv
from pathlib import Path

from pixforge.components import BuildContext, Observer, RunInfo, StepState
from pixforge.run_folder import RunFolder
from pixforge.settings import StrictModel


class LossLog(Observer[StrictModel]):
    """Appends each step's losses to ``losses.csv`` in the run folder as it goes, so a crash keeps the history."""

    description = "write each step's losses to losses.csv in the run folder"

    def __init__(self, settings: StrictModel | None = None, context: BuildContext | None = None) -> None:
        super().__init__(settings, context)
        self.path: Path | None = None
        self.columns: list[str] | None = None

    def on_start(self, run: RunInfo) -> None:
        self.path = RunFolder(run.run_dir).losses
        self.columns = None
        if run.start_step and self.path.is_file():
            self._keep_rows_up_to(run.start_step)
        elif not run.start_step:
            self.path.unlink(missing_ok=True)  # a fresh render into an old folder starts a fresh log

    def _keep_rows_up_to(self, step: int) -> None:
        """A resumed render continues the log from its checkpoint: rows written after it are dropped."""
        assert self.path is not None
        with self.path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames
            rows = [row for row in reader if int(row["step"]) <= step]
        if not columns:
            return
        with self.path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        self.columns = list(columns)

    def on_step(self, state: StepState) -> None:
        assert self.path is not None, "on_start was not called"
        row = {"step": state.step + 1, "loss": state.loss, **state.losses}
        new = self.columns is None
        if new:
            self.columns = list(row)
        with self.path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns)
            if new:
                writer.writeheader()
            writer.writerow(row)
