"""The component kinds, as one table: how each kind is registered, named in a preset, built and tested.

The plugin manager, preset resolution, ``Pipeline.build`` and ``pixforge.testing`` loop over ``KINDS``,
so a new kind is one row here (beside its base class in ``pixforge.components``, its hook spec in
``pixforge.hookspecs``, its field in ``RenderConfig`` and its contract in ``pixforge.testing``; the
tests check that each of those exists for every row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .components import Augmentation, Filter, Generator, Loss, Observer, Perceptor

if TYPE_CHECKING:
    from .config import ComponentSpec, RenderConfig


@dataclass(frozen=True)
class ComponentKind:
    """One kind of component and the names it goes by."""

    #: the registry's name for the kind, as error messages say it ("unknown loss 'x'")
    name: str
    #: the class every component of the kind subclasses
    base: type
    #: the hook spec plugins implement to register components of the kind
    hook: str
    #: the RenderConfig field that chooses them in a preset
    field: str
    #: whether the field is a list of specs (perceptors, losses…) or one spec (the generator)
    many: bool
    #: the name of the kind's contract test class in ``pixforge.testing``
    contract: str

    def specs(self, config: RenderConfig) -> list[ComponentSpec]:
        """The specs of this kind that ``config`` names, in preset order."""
        value = getattr(config, self.field)
        return list(value) if self.many else [value]


KINDS: tuple[ComponentKind, ...] = (
    ComponentKind("generator", Generator, "register_generators", "generator", False, "GeneratorContract"),
    ComponentKind("perceptor", Perceptor, "register_perceptors", "perceptors", True, "PerceptorContract"),
    ComponentKind("loss", Loss, "register_losses", "losses", True, "LossContract"),
    ComponentKind("augmentation", Augmentation, "register_augmentations", "augmentations", True, "AugmentationContract"),
    ComponentKind("filter", Filter, "register_filters", "filters", True, "FilterContract"),
    ComponentKind("observer", Observer, "register_observers", "observers", True, "ObserverContract"),
)
