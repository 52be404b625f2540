"""The ``pixforge sweep`` command: many renders from a sweep file or a prompts file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .console import fail
from .executor_options import RayOption, WorkersOption
from .files import printable
from .options import flag


def sweep(
    spec: Annotated[Optional[Path], typer.Argument(help="Sweep file (YAML): preset, base, grid, variations.")] = None,
    prompts_file: Annotated[
        Optional[Path], typer.Option("--prompts-file", help="One prompt a line: becomes the sweep's prompt axis.")
    ] = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Sweep folder (default: the file's out:, else pixforge-out/sweep-NAME)."),
    ] = None,
    workers: WorkersOption = 1,
    ray: RayOption = None,
    gather: Annotated[
        bool, flag("--gather", help="With --ray: copy run folders back instead of using a shared path.")
    ] = False,
    candidates: Annotated[
        Optional[int], typer.Option(help="Render N seeds per variation and keep the best by CLIP score.")
    ] = None,
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", "-s", help="A setting for every render: dotted.path=value.")
    ] = None,
    quiet: Annotated[bool, flag("--quiet", "-q", help="Only the summary line.")] = False,
) -> None:
    """Render every variation of a sweep; re-running skips finished renders and resumes cut-off ones."""
    from .errors import PixforgeError
    from .executors import make_executor
    from .sweep import load_spec, plan, read_prompts_file, run_sweep
    from .sweep import default_out, with_overrides, with_prompts

    if spec is None and prompts_file is None:
        fail("sweep needs a SPEC.yaml or --prompts-file FILE")
    if candidates is not None and candidates < 1:
        fail(f"--candidates must be 1 or more, got {candidates}")
    try:
        sweep_spec = load_spec(spec) if spec is not None else load_spec()
        if prompts_file is not None:
            sweep_spec = with_prompts(sweep_spec, read_prompts_file(prompts_file), str(spec or "sweep"))
        sweep_spec = with_overrides(sweep_spec, set_ or [])
        folder = out or (Path(sweep_spec.out) if sweep_spec.out else default_out(spec, prompts_file))
        jobs = plan(sweep_spec, folder, candidates)
        executor = make_executor(workers, ray, gather)
        total = len(jobs)
        seen = []

        def show(result) -> None:
            seen.append(result)
            if not quiet:
                where = f"  {result.error.splitlines()[0]}" if result.error else ""
                typer.echo(f"[{len(seen)}/{total}] {result.status:<9} {result.action:<8} {printable(result.name)}{where}")

        report = run_sweep(jobs, folder, executor=executor, on_result=show)
    except PixforgeError as exc:
        fail(str(exc))
    bad = len(report.results) - report.count("completed")
    typer.echo(f"{report.summaries['csv']}  ({report.count('completed')} of {total} completed)")
    if bad:
        fail(f"{bad} of {total} renders did not complete; see {report.summaries['csv']}")
