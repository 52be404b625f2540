"""The contracts every plugin component fulfils: generators, perceptors, losses, augmentations, filters, observers.

The engine talks to components only through these classes, so it never needs to know a plugin by name.
A component declares its settings as a ``Settings`` class (a strict pydantic model) and is built as
``cls(settings, context)`` with an instance of it and the BuildContext (``pixforge.kinds`` lists the kinds).
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

import torch
from torch import nn

from .fit import as_canvas, fit_to_image
from .optim import ParamGroup
from .settings import StrictModel

if TYPE_CHECKING:
    from .prompts import PromptSet
    from .weights import WeightEntry

#: a component's own Settings model: ``class MyLoss(Loss[MySettings])`` makes ``self.settings`` a MySettings
SettingsT = TypeVar("SettingsT", bound=StrictModel)


class ModelCache:
    """Loaded models kept by a Pipeline, so the next render (or the search pack) reuses them."""

    def __init__(self) -> None:
        self._models: dict[Any, Any] = {}

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        """The model stored under ``key``, loaded with ``load()`` the first time it is asked for."""
        if key not in self._models:
            self._models[key] = load()
        return self._models[key]

    def __contains__(self, key: Any) -> bool:
        return key in self._models

    def __len__(self) -> int:
        return len(self._models)


@dataclass(frozen=True)
class BuildContext:
    """What a component may need when it is built: canvas size, device, the shared model cache, the
    named models plugins registered (kind → name → loader), and the weight registry with whether a
    component may download missing files from it."""

    width: int
    height: int
    device: torch.device
    cache: ModelCache = field(default_factory=ModelCache)
    models: dict[str, dict[str, Callable[..., Any]]] = field(default_factory=dict)
    #: name → named weights from every plugin (``pixforge.weights``); empty when built without a registry
    weights: Mapping[str, WeightEntry] = field(default_factory=dict)
    #: may missing weights be downloaded? None: yes, unless ``PIXFORGE_OFFLINE`` is set
    allow_download: bool | None = None
    #: the picture must wrap around at its edges (a seamless tile: a filter with ``seamless`` asked for it), so
    #: a generator pads its convolutions circularly and decodes no margin beyond the canvas
    seamless: bool = False
    #: the render is ``--transparent``: a generator with ``supports_alpha`` then renders ``[B, 4, H, W]`` (alpha last)
    transparent: bool = False


class Generator(nn.Module, ABC, Generic[SettingsT]):
    """Makes an image from trainable parameters.

    ``forward()`` returns a batch ``[B, 3, H, W]`` with values in ``[0, 1]`` and keeps the graph to the
    parameters. Randomness must come from torch's default generator: the pipeline seeds it per render.
    """

    Settings: ClassVar[type[StrictModel]] = StrictModel
    description: ClassVar[str] = ""
    #: canvas sides are rounded to a multiple of this (a VQGAN's downsampling factor, say)
    size_multiple: ClassVar[int] = 1
    #: whether ``init(image)`` reproduces any picture; parametric generators (a single shape, say) only
    #: take what they can from it, and the contract tests then check shapes, not pixels
    reproduces_images: ClassVar[bool] = True
    #: the settings key that makes the generator render that many independent samples in one batch, so
    #: ``--candidates N`` costs one batched render instead of N; None: candidates are N seeded renders
    samples_setting: ClassVar[str | None] = None
    #: about how many bytes a step keeps per canvas pixel (activations, forward and backward): the memory
    #: estimate made before the first step (``pixforge.budget``); the default fits a small VQGAN decoder
    bytes_per_pixel: ClassVar[int] = 1024
    #: can it render an alpha channel (``--transparent``): built with ``context.transparent`` it returns
    #: ``[B, 4, H, W]``, straight colour then alpha (``pixforge.transparency.AlphaMap`` is one way)
    supports_alpha: ClassVar[bool] = False
    #: steps and Adam learning rate of the pixel-MSE fit with which ``from_image`` starts a generator that
    #: does not reproduce images
    fit_steps: ClassVar[int] = 40
    fit_lr: ClassVar[float] = 0.05

    def __init__(self, settings: SettingsT, context: BuildContext) -> None:
        super().__init__()
        self.settings: SettingsT = settings
        self.width = context.width
        self.height = context.height

    @classmethod
    def size_multiple_for(cls, settings: StrictModel, weights: Mapping[str, WeightEntry] | None = None) -> int:
        """The canvas multiple for these settings (a model's downsampling factor); ``size_multiple`` by default.

        ``weights`` is the weight registry, where a named model's factor may be recorded.
        """
        return cls.size_multiple

    @abstractmethod
    def init(self, image: torch.Tensor | None) -> None:
        """Set the parameters from the generator's own noise, or to reproduce ``image`` ([1, 3, H, W], 0..1)."""

    def from_image(self, image: torch.Tensor, seed: int = 0) -> None:
        """Start from a picture of any size (a staged render's upsampled last stage, an animation's last frame).

        It is resized to this generator's canvas and given to ``init(image)``; a generator that does not
        reproduce images then has its parameters fitted to it by ``fit_steps`` seeded Adam steps of pixel
        MSE. An RGBA ``[1, 4, H, W]`` picture also starts the generator's alpha map (an ``alpha`` attribute
        with a ``fit`` method, as ``AlphaMap`` has) when it has one. Override it when a generator has a
        better way.
        """
        params = self.parameters_to_optimize()
        device = params[0].device if params else None
        alpha = image[:, 3:4] if image.dim() == 4 and image.shape[1] == 4 else None
        target = as_canvas(image[:, :3] if alpha is not None else image, self.width, self.height, device)
        self.init(target)
        if not self.reproduces_images and params:
            fit_to_image(self, target, self.parameter_groups(), self.fit_steps, self.fit_lr, seed)
        alpha_map = getattr(self, "alpha", None)
        if alpha is not None and callable(getattr(alpha_map, "fit", None)):
            alpha_map.fit(alpha)  # an RGBA start keeps its alpha (pixforge.transparency.AlphaMap)

    def propose(self, score: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Before the first step of a fresh render with text prompts, a generator whose picture is cheap may
        draw many random starts and keep the best: ``score`` takes ``[M, 3, H, W]`` pictures and returns
        ``[M]`` (their CLIP similarity to the prompts, higher is better). A few numbers steered by gradients
        settle in the nearest good-enough colours; a search over many starts finds the right ones. Does
        nothing by default."""

    @abstractmethod
    def forward(self) -> torch.Tensor:
        """Render the current parameters to ``[B, 3, H, W]`` in ``[0, 1]`` (``[B, 4, H, W]`` with alpha when transparent)."""

    def parameters_to_optimize(self) -> list[torch.Tensor]:
        """The tensors the optimiser updates; frozen decoders stay out."""
        return [p for p in self.parameters() if p.requires_grad]

    def parameter_groups(self) -> list[ParamGroup]:
        """``parameters_to_optimize()`` in named groups, each with its own learning rate or None (the optimiser
        settings' ``lr``); one group, ``parameters``, by default. Keep the tensors in the same order."""
        return [ParamGroup("parameters", self.parameters_to_optimize())]

    def after_step(self) -> None:
        """Called after each optimiser step, e.g. to clamp parameters into range."""

    def extra_files(self) -> dict[str, bytes]:
        """Files to write beside final.png when the render ends (name ``final.<ext>`` → contents), from the
        current parameters: a vector generator's ``final.svg``, say. None by default."""
        return {}

    def latent(self) -> torch.Tensor | None:
        """The generator's latent parameters, for losses that work in latent space; None if it has none."""
        return None


class Perceptor(nn.Module, ABC, Generic[SettingsT]):
    """Embeds images and texts into one space (a CLIP model); frozen, only its input gets gradients.

    Code that uses a perceptor (scoring, classifying, searching) asks it through this contract, never
    through the model inside it.
    """

    Settings: ClassVar[type[StrictModel]] = StrictModel
    description: ClassVar[str] = ""
    #: the length ``D`` of its embeddings; a perceptor sets it when it is built
    embed_dim: int

    def __init__(self, settings: SettingsT, context: BuildContext) -> None:
        super().__init__()
        self.settings: SettingsT = settings

    @property
    @abstractmethod
    def input_size(self) -> int:
        """Side of the square images ``encode_image`` takes."""

    @abstractmethod
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """``[N, 3, S, S]`` images in ``[0, 1]`` → ``[N, D]`` unit-length embeddings (differentiable)."""

    @abstractmethod
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Texts → ``[N, D]`` unit-length embeddings."""

    @property
    def device(self) -> torch.device:
        """Where it computes: its first parameter's (or buffer's) device; the CPU when it has neither."""
        for tensor in itertools.chain(self.parameters(), self.buffers()):
            return tensor.device
        return torch.device("cpu")

    @property
    def logit_scale(self) -> float | None:
        """The model's trained temperature, by which similarities become logits (CLIP's ``exp(logit_scale)``,
        at most 100); None when the model has none."""
        return None

    @property
    def logit_bias(self) -> float | None:
        """The model's trained logit bias (sigmoid models such as SigLIP); None when it has none."""
        return None


@dataclass
class PerceptorSlot:
    """A perceptor in a render, with its key (unique per render) and its weight in the losses."""

    key: str
    perceptor: Perceptor
    weight: float


@dataclass
class RunContext:
    """What losses may use when they prepare, once per render, before the first step."""

    prompts: PromptSet
    perceptors: list[PerceptorSlot]
    generator: Generator
    init_image: torch.Tensor | None
    total_steps: int
    device: torch.device
    #: embeds an image ([1, 3, H, W], 0..1) for one perceptor through the render's own cutouts → [N, D]
    embed_image: Callable[[PerceptorSlot, torch.Tensor], torch.Tensor]
    #: the picture the generator started from (its layout, a staged render's last stage); None from its own init
    start: torch.Tensor | None = None


@dataclass
class StepState:
    """One step of a render, as losses and observers see it."""

    step: int
    total_steps: int
    #: this step's image ``[B, 3, H, W]``, with its graph to the generator's parameters
    image: torch.Tensor
    #: perceptor key → embeddings of this step's augmented cutouts, ``[N, D]``
    embeddings: dict[str, torch.Tensor]
    generator: Generator
    losses: dict[str, float] = field(default_factory=dict)
    loss: float = float("nan")
    #: perceptor key → where each cutout came from, ``[N, 5]`` rows of ``(image index, x0, y0, x1, y1)`` in canvas
    #: pixels, in the order of ``embeddings`` (region prompts weight each cutout by its box)
    boxes: dict[str, torch.Tensor] = field(default_factory=dict)
    #: this step's alpha ``[B, 1, H, W]`` in a ``--transparent`` render (``image`` is then the straight colour)
    alpha: torch.Tensor | None = None


class Loss(ABC, Generic[SettingsT]):
    """A weighted term of the objective. Returns an unweighted scalar; the engine applies the weight."""

    Settings: ClassVar[type[StrictModel]] = StrictModel
    description: ClassVar[str] = ""

    def __init__(self, settings: SettingsT, context: BuildContext) -> None:
        self.settings: SettingsT = settings

    def prepare(self, run: RunContext) -> None:
        """Compute what stays fixed for the whole render (text embeddings, init latents)."""

    @abstractmethod
    def __call__(self, state: StepState) -> torch.Tensor:
        """The loss for this step, a scalar tensor."""


class Augmentation(ABC, Generic[SettingsT]):
    """Builds one kornia augmentation op; the engine composes all of them into one AugmentationSequential."""

    Settings: ClassVar[type[StrictModel]] = StrictModel
    description: ClassVar[str] = ""

    def __init__(self, settings: SettingsT, context: BuildContext | None = None) -> None:
        self.settings: SettingsT = settings

    @abstractmethod
    def build(self) -> nn.Module:
        """A kornia augmentation module (batched, differentiable) configured from the settings."""


class Filter(nn.Module, ABC, Generic[SettingsT]):
    """A differentiable image transform between the generator and the cutouts (a palette, a symmetry, a random
    roll); it may add a loss term, which the filter spec's ``weight`` scales.

    Filters run in preset order on the generator's picture; the picture they make is what losses see and what
    is saved. A ``view_only`` filter (a random roll) changes only what the perceptors see this step: view-only
    filters run after the others, on their picture. Randomness must come from torch's default generator.
    """

    Settings: ClassVar[type[StrictModel]] = StrictModel
    description: ClassVar[str] = ""
    #: True: changes only what the perceptors see this step, never the picture that is kept
    view_only: ClassVar[bool] = False
    #: True: needs a picture that wraps around at its edges, so the generator is built seamless
    #: (``BuildContext.seamless``)
    seamless: ClassVar[bool] = False
    #: the setting a bare value sets when the filter is a keyword (``render(palette="red,blue")`` sets the
    #: palette's ``colors``; ``pixforge.filter_values``); None: it takes True, False or a mapping of settings
    shorthand: ClassVar[str | None] = None

    @classmethod
    def seamless_for(cls, settings: StrictModel) -> bool:
        """Whether the filter with these settings needs a seamless generator; ``seamless`` by default."""
        return cls.seamless

    @classmethod
    def cell_for(cls, settings: StrictModel) -> tuple[int, StrictModel] | None:
        """For a filter that makes the picture ``n × n`` repeats of one cell (a wallpaper group): ``n`` and its
        settings for drawing that cell alone, so a layout draws one cell and repeats it (averaged over the
        cells, one clean primitive fades to a faint ghost); None, the default, for any other filter."""
        return None

    def __init__(self, settings: SettingsT, context: BuildContext) -> None:
        super().__init__()
        self.settings: SettingsT = settings

    @abstractmethod
    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` in 0..1 → the same shape in 0..1, with gradients back to ``image``."""

    def loss(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor | None:
        """This step's unweighted scalar loss term from the filter's input and output; None (always, or never)
        when the filter adds none."""
        return None


@dataclass
class RunInfo:
    """The run as observers see it when it starts and ends."""

    run_dir: Path
    prompt: str
    settings: dict[str, Any]
    total_steps: int
    #: the step a resumed render continues from (0 for a fresh one)
    start_step: int = 0


class Observer(Generic[SettingsT]):
    """Watches a render step by step (progress frames, video, logging). Must not change the image."""

    Settings: ClassVar[type[StrictModel]] = StrictModel
    description: ClassVar[str] = ""

    def __init__(self, settings: SettingsT | None = None, context: BuildContext | None = None) -> None:
        self.settings: SettingsT = settings if settings is not None else cast(SettingsT, self.Settings())

    def on_start(self, run: RunInfo) -> None:
        """Called once before the first step."""

    def on_step(self, state: StepState) -> None:
        """Called after each optimiser step."""

    def on_end(self, run: RunInfo, final_image: torch.Tensor) -> None:
        """Called once when the render ends, also after an interrupt or a diverged loss."""

