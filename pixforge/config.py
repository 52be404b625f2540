"""The settings schema (RenderConfig) and reading YAML; merging and ``--set`` overrides are ``pixforge.overrides``.

Nothing here knows the plugins: finding presets and validating component settings against the registry
is ``pixforge.resolve``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, PrivateAttr, field_validator, model_validator

from .animation.settings import AnimationSettings
from .cutouts import CutoutSettings
from .errors import ConfigError
from .files import is_regular
from .optim import OptimizerSettings
from .overrides import APPEND, REMOVE, apply_override, deep_merge, parse_override  # noqa: F401  (their old home)
from .regions import RegionSpec
from .settings import StrictModel
from .transparency import TransparencySettings
from .trust import without_trust

PRESET_SUFFIXES = (".yaml", ".yml")


class ComponentSpec(StrictModel):
    """A component chosen by name, with its own settings (validated by the component's Settings model)."""

    name: str
    settings: dict[str, Any] = Field(default_factory=dict)
    #: the component's own Settings object, validated once by ``pixforge.resolve`` and carried to the build
    _typed: StrictModel | None = PrivateAttr(None)

    def typed(self) -> StrictModel | None:
        """The validated Settings; None when there are none yet or ``settings`` changed after they were made."""
        typed = self._typed
        if typed is None or typed.model_dump(mode="json") != self.settings:
            return None
        return typed

    def carry(self, typed: StrictModel) -> None:
        """Keep the validated Settings, and their plain form (defaults filled in) as ``settings``."""
        self.settings = typed.model_dump(mode="json")
        self._typed = typed


class WeightedSpec(ComponentSpec):
    """A component whose output is weighted (a loss or a perceptor)."""

    weight: float = 1.0


class FilterSpec(WeightedSpec):
    """A filter; its settings may also sit beside its name, as ``{name: palette, colors: "red,blue"}``."""

    @model_validator(mode="before")
    @classmethod
    def _flat_settings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        flat = {key: value for key, value in data.items() if key not in cls.model_fields}
        if not flat:
            return data
        settings = data.get("settings")
        nested = dict(settings) if isinstance(settings, dict) else {}
        return {**{k: v for k, v in data.items() if k in cls.model_fields}, "settings": {**nested, **flat}}


class PromptExtras(StrictModel):
    """Prompts that are not text: image prompts, target images and noise prompts (``value:weight:stop``),
    and region prompts."""

    images: list[str] = Field(default_factory=list)
    targets: list[str] = Field(default_factory=list)
    noise: list[str] = Field(default_factory=list)
    #: steps (an animation's frames) over which scenes of ``A || B`` crossfade their prompt weights
    transition: int = Field(0, ge=0)
    regions: list[RegionSpec] = Field(default_factory=list)


class StageSettings(StrictModel):
    """One stage of a staged render: its canvas and its steps (``pixforge.staging``)."""

    size: tuple[int, int]
    steps: int = Field(ge=1)

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return parse_size(value)

    @field_validator("size")
    @classmethod
    def _positive(cls, value: tuple[int, int]) -> tuple[int, int]:
        return check_side(value)


def parse_stages(value: Any) -> Any:
    """``"64:80,128:40"`` (SIZE:STEPS, SIZE as ``N`` or ``WxH``) → stage mappings; anything else is left as is."""
    if not isinstance(value, str):
        return value
    stages = []
    for part in (p.strip() for p in value.split(",")):
        size, sep, steps = part.partition(":")
        if not sep or not steps.strip().isdigit():
            raise ValueError(f"stage '{part}' must look like SIZE:STEPS (e.g. 64:80,128:40)")
        stages.append({"size": size.strip(), "steps": int(steps)})
    return stages


class LayoutSettings(StrictModel):
    """A first picture by another generator, best of ``candidates`` by CLIP, that the render starts from
    (``pixforge.layout``): a generator of clean primitives settles where and what, the render's own adds detail."""

    generator: ComponentSpec
    #: the layout's steps; a render of fewer steps (``--steps 2``) gives its layout as many as it has
    steps: int = Field(100, ge=1)
    #: pictures tried, as ``--candidates`` tries them (one batch of samples when the generator draws them side
    #: by side, else seeds seed, seed+1, ...); the one the render's perceptors score best is kept
    candidates: int = Field(6, ge=1, le=64)


class RankingSettings(StrictModel):
    """How best-of-N scores a picture (``--candidates``, a layout's candidates): the mean CLIP score over
    ``views`` square crops of a side from ``min_size`` of the picture's to all of it, the same crops for every
    candidate (drawn from a fixed seed), or the whole picture alone with ``views: 1``."""

    views: int = Field(1, ge=1, le=256)
    min_size: float = Field(0.8, gt=0, le=1)


class VideoSettings(StrictModel):
    """Whether to write a video of the progress frames, and how."""

    enabled: bool = False
    fps: int = Field(10, ge=1, le=120)
    format: Literal["mp4", "gif"] = "mp4"


class RenderConfig(StrictModel):
    """Everything a render needs, fully resolved. Saved as settings.yaml and in the final PNG."""

    prompt: str = ""
    size: tuple[int, int] = (64, 64)
    steps: int = Field(100, ge=1)
    seed: int | str | None = None
    device: Literal["auto", "cpu", "cuda", "mps"] | str = "auto"
    save_every: int = Field(0, ge=0)
    #: write checkpoint.pt every N steps so ``render --resume`` can continue a killed render (0: never)
    checkpoint_every: int = Field(10, ge=0)
    #: keep checkpoint.pt once the render has finished (it is removed then: only a cut-off render needs it)
    keep_checkpoint: bool = False
    #: torch.compile the generator and the perceptors' image encoders (worth it on a GPU; the first steps
    #: then take a minute or more to compile, and on a CPU it gains nothing)
    compile: bool = False
    #: the arithmetic of every component with a ``precision`` setting (the CLIP perceptors, the VQGAN decoder),
    #: set on each of them when given (``--precision``): ``amp_bf16`` runs them under bfloat16 autocast, which
    #: pays on GPUs and on CPUs with bfloat16 matrix units (Intel AMX); None leaves each its own
    precision: Literal["fp32", "amp_bf16", "amp_fp16"] | None = None
    init_image: str | None = None
    generator: ComponentSpec
    perceptors: list[WeightedSpec] = Field(default_factory=list)
    losses: list[WeightedSpec] = Field(default_factory=list)
    augmentations: list[ComponentSpec] = Field(default_factory=list)
    #: image transforms between the generator and the cutouts, in order; ``weight`` scales a filter's loss term
    filters: list[FilterSpec] = Field(default_factory=list)
    cutouts: CutoutSettings = Field(default_factory=CutoutSettings)
    optimizer: OptimizerSettings = Field(default_factory=OptimizerSettings)
    observers: list[ComponentSpec] = Field(default_factory=list)
    prompts: PromptExtras = Field(default_factory=PromptExtras)
    video: VideoSettings = Field(default_factory=VideoSettings)
    #: frames, motion and video of ``pixforge animate`` / ``stylize`` (``pixforge.animation``); None for a still
    animation: AnimationSettings | None = None
    transparency: TransparencySettings = Field(default_factory=TransparencySettings)
    #: a staged render: each stage renders at its size for its steps, starting from the last stage's picture
    #: upsampled (``pixforge.staging``); the render then takes ``size`` and ``steps`` from the stages (the last
    #: stage's size, the sum of their steps)
    stages: list[StageSettings] = Field(default_factory=list)
    #: a layout rendered first by another generator, that the render (its first stage) starts from; None: none
    layout: LayoutSettings | None = None
    #: how best-of-N scores its candidates (``pixforge.candidates``)
    ranking: RankingSettings = Field(default_factory=RankingSettings)

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return parse_size(value)

    @field_validator("stages", mode="before")
    @classmethod
    def _stages(cls, value: Any) -> Any:
        return parse_stages(value)

    @field_validator("stages")
    @classmethod
    def _growing(cls, stages: list[StageSettings]) -> list[StageSettings]:
        for index, (before, stage) in enumerate(zip(stages, stages[1:]), start=2):
            if stage.size[0] < before.size[0] or stage.size[1] < before.size[1]:
                raise ValueError(
                    f"stage {index} ({stage.size[0]}x{stage.size[1]}) is smaller than stage {index - 1} "
                    f"({before.size[0]}x{before.size[1]}); stages go from small to large"
                )
        return stages

    @field_validator("size")
    @classmethod
    def _positive(cls, value: tuple[int, int]) -> tuple[int, int]:
        return check_side(value)


def check_side(value: tuple[int, int]) -> tuple[int, int]:
    """A canvas of 8 to 8192 pixels a side."""
    if min(value) < 8 or max(value) > 8192:
        raise ValueError(f"size {value[0]}x{value[1]} must be between 8 and 8192 pixels a side")
    return value


def parse_size(value: Any) -> Any:
    """``"WxH"``, ``"N"``, ``N`` or ``[W, H]`` → ``(W, H)``; anything else is left for pydantic to reject."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, str):
        parts = value.lower().replace(",", "x").split("x")
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"size '{value}' must look like 256x256 or 256") from None
        if len(numbers) == 1:
            return (numbers[0], numbers[0])
        if len(numbers) == 2:
            return tuple(numbers)
        raise ValueError(f"size '{value}' must look like 256x256 or 256")
    return value


# --- reading presets -----------------------------------------------------------------------------


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping (regular files only); syntax errors name the file and line.

    What a file says never grants trust to unpickle a checkpoint (``pixforge.trust``).
    """
    if path.exists() and not is_regular(path):
        raise ConfigError(f"{path}: cannot read (not a regular file: a folder, FIFO, socket or device)")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: cannot read (not UTF-8 text)") from None
    try:
        data = without_trust(yaml.safe_load(text), str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path} line {mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a preset must be a mapping of settings, not {type(data).__name__}")
    return data


def config_to_yaml(config: RenderConfig) -> str:
    """The settings as YAML, as settings.yaml and the final PNG carry them."""
    data = config.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
