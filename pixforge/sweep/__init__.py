"""Sweeps: many renders from one spec (a grid and/or a list of variations), run here, in worker
processes or on Ray, resumable, with a summary at the end."""

from __future__ import annotations

from .executors import Executor, ProcessExecutor, RayExecutor, SequentialExecutor
from .job import JobResult, run_job
from .plan import Job, plan
from .run import SweepReport, default_out, prepare, run_sweep
from .spec import SweepSpec, load_spec, read_prompts_file, with_overrides, with_prompts

__all__ = [
    "Executor",
    "Job",
    "JobResult",
    "ProcessExecutor",
    "RayExecutor",
    "SequentialExecutor",
    "SweepReport",
    "SweepSpec",
    "default_out",
    "load_spec",
    "plan",
    "prepare",
    "read_prompts_file",
    "run_job",
    "run_sweep",
    "with_overrides",
    "with_prompts",
]
