"""The ``pixforge zoo`` commands: write sample images of the synthetic world, train the shipped models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from pixforge.console import fail
from pixforge.hookspecs import hookimpl


def make_app() -> typer.Typer:
    """A fresh ``zoo`` sub-app (built per call: no state shared between CLIs)."""
    app = typer.Typer(help="The synthetic shape world and the tiny models trained on it.", no_args_is_help=True)

    @app.command()
    def samples(
        out_dir: Annotated[Path, typer.Argument(help="Folder for the PNGs and captions.jsonl.")],
        n: Annotated[int, typer.Option("--n", min=1, help="How many images.")] = 100,
        seed: Annotated[int, typer.Option(help="Seed: the same seed writes the same images.")] = 0,
        size: Annotated[int, typer.Option(min=8, help="Image side in pixels.")] = 64,
    ) -> None:
        """Write N captioned sample images of the synthetic world to OUT_DIR."""
        from .world import write_samples

        paths = write_samples(out_dir, n, seed, size)
        typer.echo(f"wrote {len(paths)} images and captions.jsonl to {out_dir}")

    @app.command()
    def train(
        model: Annotated[str, typer.Argument(help="Which model to train (e.g. tiny-clip).")],
        minutes: Annotated[float, typer.Option(min=0.0, help="Wall-clock budget in minutes.")] = 22.0,
        seed: Annotated[int, typer.Option(help="Seed of the data and the initial weights.")] = 0,
        out: Annotated[Optional[Path], typer.Option(help="Weights folder (default: the one the plugin ships).")] = None,
    ) -> None:
        """Train MODEL on the synthetic world and write its weights folder."""
        from pixforge.errors import suggest
        from pixforge.plugins import default_registry

        trainers = default_registry().trainers
        if model not in trainers:
            fail(f"unknown model '{model}'; {suggest(model, trainers)}")
        folder = trainers[model](minutes=minutes, seed=seed, out=out)
        typer.echo(f"wrote {folder}")

    return app


@hookimpl
def register_commands(cli: Any) -> None:
    cli.add_typer(make_app(), name="zoo")
