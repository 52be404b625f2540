"""Render checkpoints: enough state to continue a killed render and end with the very same bytes.

A checkpoint holds the generator's trainable tensors, the optimiser and schedule state, torch's RNG states,
the step reached and the loss history. It is written atomically, so a kill at any moment leaves either the
previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import io
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import ConfigError
from .files import is_regular, printable
from .run_folder import RunFolder

FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """The state of a render after ``step`` completed steps."""

    step: int
    params: list[torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng_cpu: torch.Tensor
    rng_cuda: list[torch.Tensor] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)

    def save(self, run_dir: Path) -> None:
        buffer = io.BytesIO()
        torch.save(
            {
                "format_version": FORMAT_VERSION,
                "step": self.step,
                "params": [p.detach().cpu() for p in self.params],
                "optimizer": self.optimizer,
                "scheduler": self.scheduler,
                "rng_cpu": self.rng_cpu,
                "rng_cuda": self.rng_cuda,
                "history": self.history,
            },
            buffer,
        )
        RunFolder(run_dir).write_bytes(RunFolder.CHECKPOINT, buffer.getvalue())

    @classmethod
    def load(cls, run_dir: Path) -> Checkpoint:
        """Read a run folder's checkpoint with torch's weights-only unpickler: tensors and plain data only.

        A checkpoint is a file like any other, so one that needs more (a pickled object: it could run code)
        or is damaged is refused in one line; nothing can make a render checkpoint trusted.
        """
        path = RunFolder(run_dir).checkpoint
        if not path.exists():
            raise ConfigError(f"--resume '{printable(run_dir)}': no {RunFolder.CHECKPOINT} in it (checkpoint_every was 0?)")
        if not is_regular(path):
            raise ConfigError(f"--resume: '{printable(path)}' is not a regular file")
        refuse = f"--resume: '{printable(path)}' is not a pixforge checkpoint"
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            raise ConfigError(f"{refuse} (it holds pickled objects, which could run code; refused)") from None
        except Exception as exc:  # truncated, zero bytes, not a zip: torch raises many kinds
            raise ConfigError(f"{refuse} (damaged: {type(exc).__name__}); render again without --resume") from None
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            version = data.get("format_version") if isinstance(data, dict) else None
            raise ConfigError(f"{refuse}: format {version} is not {FORMAT_VERSION}")
        try:
            checkpoint = cls(
                step=int(data["step"]),
                params=list(data["params"]),
                optimizer=dict(data["optimizer"]),
                scheduler=dict(data["scheduler"]),
                rng_cpu=data["rng_cpu"],
                rng_cuda=list(data["rng_cuda"]),
                history=list(data["history"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{refuse} (damaged: {type(exc).__name__} {exc})") from None
        if not all(isinstance(p, torch.Tensor) for p in checkpoint.params) or not isinstance(checkpoint.rng_cpu, torch.Tensor):
            raise ConfigError(f"{refuse} (damaged: its tensors are not tensors)")
        return checkpoint


def capture_rng(device: torch.device) -> tuple[torch.Tensor, list[torch.Tensor]]:
    cuda = [torch.cuda.get_rng_state(device)] if device.type == "cuda" else []
    return torch.get_rng_state(), cuda


def restore_rng(checkpoint: Checkpoint, device: torch.device) -> None:
    torch.set_rng_state(checkpoint.rng_cpu)
    if device.type == "cuda" and checkpoint.rng_cuda:
        torch.cuda.set_rng_state(checkpoint.rng_cuda[0], device)


def restore_params(params: list[torch.Tensor], checkpoint: Checkpoint) -> None:
    if len(params) != len(checkpoint.params) or any(
        p.shape != q.shape for p, q in zip(params, checkpoint.params)
    ):
        raise ConfigError("the checkpoint does not fit this render's generator (were settings.yaml edited?)")
    with torch.no_grad():
        for param, saved in zip(params, checkpoint.params):
            param.copy_(saved.to(param.device))


def is_completed(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a finished render: run.json says completed and its final.png is there."""
    status = read_status(run_dir)
    return bool(status and status.get("status") == "completed") and RunFolder(run_dir).final.is_file()


def write_status(run_dir: Path, status: str, steps_done: int, total_steps: int, message: str = "") -> None:
    """``run.json``: how the render ended, so a sweep can tell finished runs from interrupted ones."""
    RunFolder(run_dir).write_text(
        RunFolder.STATUS,
        json.dumps({"status": status, "steps_done": steps_done, "total_steps": total_steps, "message": message}),
    )


def read_status(run_dir: Path) -> dict[str, Any] | None:
    path = RunFolder(run_dir).status
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
