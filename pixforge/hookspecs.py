"""The hooks a pixforge plugin can implement. Each takes a ``register`` callable or an object to extend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .components import StepState
    from .weights import WeightEntry

hookspec = pluggy.HookspecMarker("pixforge")
hookimpl = pluggy.HookimplMarker("pixforge")

Register = Callable[[str, type], None]


@hookspec
def register_generators(register: Register) -> None:
    """Register generator classes (subclasses of ``pixforge.Generator``): ``register("name", Cls)``."""


@hookspec
def register_perceptors(register: Register) -> None:
    """Register perceptor classes (subclasses of ``pixforge.Perceptor``): ``register("name", Cls)``."""


@hookspec
def register_losses(register: Register) -> None:
    """Register loss classes (subclasses of ``pixforge.Loss``): ``register("name", Cls)``."""


@hookspec
def register_augmentations(register: Register) -> None:
    """Register augmentation classes (subclasses of ``pixforge.Augmentation``): ``register("name", Cls)``."""


@hookspec
def register_filters(register: Register) -> None:
    """Register filter classes (subclasses of ``pixforge.Filter``): image transforms between the generator and the
    cutouts, such as a palette or a symmetry: ``register("name", Cls)``."""


@hookspec
def register_observers(register: Register) -> None:
    """Register observer classes (subclasses of ``pixforge.Observer``) that presets can switch on."""


@hookspec
def register_preset_dirs(register: Callable[[Path], None]) -> None:
    """Register folders of extra preset YAML files: ``register(Path(...))``."""


@hookspec
def register_models(register: Callable[[str, str, Callable[..., Any]], None]) -> None:
    """Register named models that a component loads by name: ``register(kind, name, loader)``.

    ``kind`` says which component family uses it (``"clip"`` for the clip perceptor); ``loader(device)``
    returns what that family expects. This is how a plugin ships a model without the component knowing it.
    """


@hookspec
def register_weights(register: Callable[[WeightEntry], None]) -> None:
    """Register named model weights (files, checksums, mirrors): ``register(pixforge.weights.WeightEntry(...))``.

    ``pixforge models`` lists and fetches them, and a component gets their paths with
    ``pixforge.weights.ensure_local``; a name or alias registered by two plugins is an error.
    """


@hookspec
def register_trainers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register model trainers for ``pixforge zoo train NAME``: ``register(name, trainer)``.

    ``trainer(minutes=..., seed=..., out=...)`` trains (seeded, time-boxed) and returns the folder it wrote.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add sub-commands to the ``pixforge`` command line; ``cli`` is the root ``typer.Typer`` app."""


@hookspec
def on_step(state: StepState) -> None:
    """Observe every step of every render in this process (logging, tracing), as its last observer; must not change
    the state."""
