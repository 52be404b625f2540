"""A Pipeline keeps plugins and loaded models across renders; each render is seeded and independent."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .augment import compose
from .budget import check_fits
from .canvas import round_to_multiple
from .candidates import candidate_seeds, clip_scores, rank_candidates, rank_samples, write_ranking
from .components import BuildContext, ModelCache, Observer, Perceptor, PerceptorSlot, RunInfo, StepState
from .config import ComponentSpec, RenderConfig, config_to_yaml, read_yaml
from .devices import pick_device
from .files import printable
from .kinds import KINDS
from .errors import ConfigError, PixforgeWarning
from .engine import Components, Engine, NamedLoss
from .filters import FilterChain, NamedFilter
from .outputs import (
    load_image,
    new_run_dir,
    pil_to_tensor,
    read_render_settings,
    render_metadata,
)
from .plugins import Registry, default_registry
from .prompts import PromptSet, parse_image_prompts, parse_noise_prompts, parse_prompts
from .recording import FrameSaver, VideoWriter
from .resolve import component_settings, resolve_config
from .results import RenderResult
from .resume import Checkpoint, is_completed
from .regions import build_regions
from .run_folder import RunFolder
from .transparency import Transparency, check_alpha
from .seeding import resolve_seed, seeded
from .layout import layout_dir, render_layout, wants_layout
from .staging import render_stages


def unique_keys(names: Sequence[str]) -> list[str]:
    """``["clip", "clip", "x"]`` → ``["clip", "clip#2", "x"]``."""
    seen: dict[str, int] = {}
    keys = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        keys.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return keys


class StepHook(Observer):
    """The ``on_step`` hook as the render's last observer: plugins watch every render the way observers do."""

    def __init__(self, hook: Any) -> None:
        super().__init__()
        self.hook = hook

    def on_step(self, state: StepState) -> None:
        self.hook(state=state)


class Pipeline:
    """Plugins and loaded models, reused across renders (and by the search pack)."""

    def __init__(
        self, plugins: Iterable[Any] = (), registry: Registry | None = None, *, allow_download: bool | None = None
    ) -> None:
        """``allow_download=False`` makes a missing model file an error instead of a download (None: allowed
        unless ``PIXFORGE_OFFLINE`` is set)."""
        self.registry = registry if registry is not None else default_registry(plugins)
        self.cache = ModelCache()
        self.allow_download = allow_download

    # -- settings ------------------------------------------------------------------------------

    def resolve(
        self,
        prompt: str | None = None,
        preset: str | Path | dict[str, Any] = "default",
        overrides: Sequence[str] = (),
        **values: Any,
    ) -> RenderConfig:
        """The fully validated settings a render with these arguments would use."""
        if prompt is not None:
            values = {"prompt": prompt, **values}
        return resolve_config(self.registry, preset, list(overrides), values)

    # -- rendering -----------------------------------------------------------------------------

    def render(
        self,
        prompt: str | None = None,
        preset: str | Path | dict[str, Any] = "default",
        *,
        overrides: Sequence[str] = (),
        out: str | Path | None = None,
        observers: Sequence[Observer] = (),
        from_image: str | Path | None = None,
        candidates: int = 1,
        trust_checkpoint: bool = False,
        regions: Sequence[str | Mapping[str, Any]] | None = None,
        transparent: bool | None = None,
        **values: Any,
    ) -> RenderResult:
        """Render ``prompt`` with a preset, Python overrides (``steps=50``) and ``--set``-style overrides.

        ``regions`` are prompts for parts of the canvas (``"left=a red circle:1"`` or ``{text, weight, mask}``,
        the settings' ``prompts.regions``); ``transparent=True`` makes an RGBA final.png (``transparency.enabled``).

        ``from_image`` replays the render stored in a pixforge PNG (its settings, seed and prompt; never
        its trust: see ``pixforge.trust``). ``candidates=N`` renders N seeds and keeps the best by CLIP
        score (see ``pixforge.candidates``). ``trust_checkpoint`` lets every component unpickle its
        checkpoint in full (the CLI's ``--trust-checkpoint``).
        """
        if from_image is not None:
            preset = read_render_settings(from_image)
        if prompt is not None:
            values = {"prompt": prompt, **values}
        if regions is not None:
            values = {**values, "prompts.regions": list(regions)}
        if transparent is not None:
            values = {**values, "transparency.enabled": transparent}
        config = resolve_config(self.registry, preset, list(overrides), values, trust_checkpoint=trust_checkpoint)
        if config.animation is not None:
            warnings.warn("these settings carry an 'animation:' section, which a render leaves alone (it makes one "
                          "still); pixforge animate or stylize use it", PixforgeWarning, stacklevel=2)
        if candidates < 1:
            raise ConfigError(f"candidates must be 1 or more, got {candidates}")
        if candidates > 1 and config.transparency.enabled:
            raise ConfigError("--candidates cannot rank --transparent renders yet (CLIP scores colour only); use one")
        seed = resolve_seed(config.seed)
        run_dir = Path(out) if out is not None else new_run_dir(stem=config.prompt)
        if candidates == 1:
            return self.render_config(config.model_copy(update={"seed": seed}), run_dir, observers)
        return self.render_candidates(config, seed, candidates, run_dir, observers)

    def resume(
        self, run_dir: str | Path, observers: Sequence[Observer] = (), trust_checkpoint: bool = False
    ) -> RenderResult:
        """Continue a render from the checkpoint in its run folder; it ends as if it had never stopped.

        Trust the render was given is not read back from its settings.yaml: give ``trust_checkpoint`` again.
        """
        run_dir = Path(run_dir)
        settings = RunFolder(run_dir).settings
        if not settings.is_file():
            raise ConfigError(f"--resume '{printable(run_dir)}': no settings.yaml (is it a pixforge run folder?)")
        config = resolve_config(self.registry, read_yaml(settings), trust_checkpoint=trust_checkpoint)
        if config.stages:
            return render_stages(self, config, run_dir, observers, resuming=True)
        if wants_layout(config) and not RunFolder(run_dir).checkpoint.exists() and not is_completed(run_dir):
            # stopped in its layout or before its first checkpoint: the finished layout is kept, the rest
            # renders again from it (the same bytes as if it had never stopped)
            return self.render_config(config, run_dir, observers)
        return self.render_config(config, run_dir, observers, resume=Checkpoint.load(run_dir))

    def render_config(
        self,
        config: RenderConfig,
        run_dir: Path,
        observers: Sequence[Observer] = (),
        resume: Checkpoint | None = None,
        start: torch.Tensor | None = None,
    ) -> RenderResult:
        """Run one render of fully resolved settings (``config.seed`` already an int) into ``run_dir``.

        ``start`` is a picture the generator starts from (``Generator.from_image``) instead of its own
        init; settings with ``stages`` run as a staged render (``pixforge.staging``).
        """
        config = config.model_copy(deep=True)
        device = pick_device(config.device)
        seed = resolve_seed(config.seed)
        config.seed = seed
        if config.stages:
            return render_stages(self, config, run_dir, observers)
        run_dir.mkdir(parents=True, exist_ok=True)
        folder = RunFolder(run_dir)
        with folder.lock():
            if start is None and wants_layout(config):
                if resume is None:  # so a stop in the layout can resume
                    folder.write_text(RunFolder.SETTINGS, config_to_yaml(config))
                # a resumed render reads its finished layout back: the init_image loss keeps to it
                start = render_layout(self, config, run_dir, observers)
                result = self._render_built(config, device, run_dir, observers, resume, start)
                return replace(result, extras={**result.extras, "layout": str(layout_dir(run_dir))})
            return self._render_built(config, device, run_dir, observers, resume, start)

    def _render_built(
        self, config: RenderConfig, device: torch.device, run_dir: Path, observers: Sequence[Observer],
        resume: Checkpoint | None, start: torch.Tensor | None,
    ) -> RenderResult:
        """Build the components and run the engine (``run_dir``'s lock held, ``config.seed`` an int)."""
        seed = int(config.seed)
        folder = RunFolder(run_dir)
        with seeded(seed, device):
            components = self.build(config, device, run_dir, list(observers), start)
            asked, config.size = config.size, (components.generator.width, components.generator.height)
            if tuple(asked) != config.size:
                warnings.warn(
                    f"size {asked[0]}x{asked[1]} rounded to {config.size[0]}x{config.size[1]}, "
                    f"what generator '{config.generator.name}' can make",
                    PixforgeWarning,
                    stacklevel=4,
                )
            check_fits(*config.size, config.cutouts.count, [s.perceptor.input_size for s in components.perceptors],
                       device, components.generator.bytes_per_pixel)
            if resume is None:  # a resumed render has its checkpoint
                self.search_start(components, config)
            settings_yaml = config_to_yaml(config)
            folder.write_text(RunFolder.SETTINGS, settings_yaml)
            engine = Engine(
                components,
                total_steps=config.steps,
                run_dir=run_dir,
                png_text=render_metadata(settings_yaml, seed, config.prompt),
                seed=seed,
                checkpoint_every=config.checkpoint_every,
                compile=config.compile,
                resume=resume,
            )
            info = RunInfo(run_dir, config.prompt, config.model_dump(mode="json"), config.steps)
            result = engine.run(info)
            if result.status == "completed" and not config.keep_checkpoint:
                folder.checkpoint.unlink(missing_ok=True)  # a finished render has nothing to resume
            return result

    def search_start(self, components: Components, config: RenderConfig) -> None:
        """A fresh render with text prompts and nothing to start from (no layout, stage or init image) lets
        its generator search random starts by the perceptors' score (``Generator.propose``); call it after
        ``build``, inside the render's ``seeded`` block, so the search is part of what the seed fixes."""
        if components.start is not None or components.init_image is not None or not config.prompt.strip():
            return
        scored = [(slot.perceptor, slot.weight) for slot in components.perceptors]
        # the raw proposals are judged, not the filters' picture of them: averaged by a symmetry, a shape's blend
        # with its ground (pink for red on white) scores higher with the tiny CLIP than a clean shape does
        components.generator.propose(partial(clip_scores, config=config, perceptors=scored))

    def render_candidates(
        self, config: RenderConfig, seed: int, count: int, run_dir: Path, observers: Sequence[Observer] = ()
    ) -> RenderResult:
        """Render ``count`` candidates under ``run_dir/candidates/`` and put the best one's final.png in ``run_dir``.

        Seeds ``seed, seed+1, ...`` one render each, or, for a generator with a ``samples_setting``,
        one render of ``count`` samples in a batch.
        """
        run_dir.mkdir(parents=True, exist_ok=True)
        with RunFolder(run_dir).lock():
            return self._best_of_locked(config, seed, count, run_dir, observers)

    def _best_of_locked(
        self, config: RenderConfig, seed: int, count: int, run_dir: Path, observers: Sequence[Observer]
    ) -> RenderResult:
        context = self.context(config, pick_device(config.device))
        key = self.registry.get("generator", config.generator.name).samples_setting
        if key is None:
            results = [
                self.render_config(config.model_copy(update={"seed": s}), run_dir / "candidates" / f"seed-{s}", observers)
                for s in candidate_seeds(seed, count)
            ]
            ranked = rank_candidates(results, config, self.perceptors_for(config, context))
        else:
            generator = config.generator.model_copy(update={"settings": {**config.generator.settings, key: count}})
            batched = config.model_copy(update={"seed": seed, "generator": generator})
            result = self.render_config(batched, run_dir / "candidates" / "batch", observers)
            ranked = rank_samples(result, config, self.perceptors_for(config, context))
        final = write_ranking(run_dir, ranked)
        return replace(
            ranked[0].result,
            run_dir=run_dir,
            extras={"candidates": [c.describe() for c in ranked], "final": str(final)},
        )

    # -- building components -------------------------------------------------------------------

    def context(self, config: RenderConfig, device: torch.device) -> BuildContext:
        """The build context, with the canvas rounded to what the generator can make."""
        generator_cls = self.registry.get("generator", config.generator.name)
        settings = component_settings(self.registry, "generator", config.generator)
        multiple = max(1, int(generator_cls.size_multiple_for(settings, self.registry.weights)))
        width, height = (round_to_multiple(side, multiple) for side in config.size)
        seamless = any(
            self.registry.get("filter", spec.name).seamless_for(component_settings(self.registry, "filter", spec))
            for spec in config.filters
        )
        return BuildContext(
            width=width,
            height=height,
            device=device,
            cache=self.cache,
            models=self.registry.models,
            weights=self.registry.weights,
            allow_download=self.allow_download,
            seamless=seamless,
            transparent=check_alpha(config.transparency, generator_cls, config.generator.name),
        )

    def build_component(self, kind: str, spec: ComponentSpec, context: BuildContext) -> Any:
        """One component, built as every kind is: ``cls(settings, context)`` with its validated settings,
        moved to the context's device when it is a torch module."""
        cls = self.registry.get(kind, spec.name)
        component = cls(component_settings(self.registry, kind, spec), context)
        return component.to(context.device) if isinstance(component, nn.Module) else component

    def perceptor(self, spec: ComponentSpec, context: BuildContext) -> Perceptor:
        """Build (or reuse from the cache) one perceptor; the search pack uses this too."""
        return self.build_component("perceptor", spec, context)

    def perceptors_for(self, config: RenderConfig, context: BuildContext) -> list[tuple[Perceptor, float]]:
        """The render's perceptors with their weights, for scoring its images (from the model cache, so
        nothing is loaded twice)."""
        return [(self.perceptor(spec, context), spec.weight) for spec in config.perceptors]

    def build(
        self, config: RenderConfig, device: torch.device, run_dir: Path, extra_observers: list[Observer],
        start: torch.Tensor | None = None,
    ) -> Components:
        """Build every component the settings name (kind by kind, in ``KINDS`` order), and initialise the generator
        (from ``start`` when given, a staged render's last stage, say)."""
        context = self.context(config, device)
        built = {
            kind.name: [self.build_component(kind.name, spec, context) for spec in kind.specs(config)]
            for kind in KINDS
        }
        generator = built["generator"][0]
        perceptors = [
            PerceptorSlot(key, perceptor, spec.weight)
            for key, perceptor, spec in zip(
                unique_keys([p.name for p in config.perceptors]), built["perceptor"], config.perceptors
            )
        ]
        # a filter's loss term is named like a loss, so the two share one set of keys (losses.csv columns)
        keys = unique_keys([s.name for s in config.losses] + [s.name for s in config.filters])
        losses = [NamedLoss(key, spec.weight, loss) for key, loss, spec in zip(keys, built["loss"], config.losses)]
        filters = FilterChain([
            NamedFilter(key, spec.weight, built_filter)
            for key, built_filter, spec in zip(keys[len(losses):], built["filter"], config.filters)
        ])
        augment = compose([augmentation.build() for augmentation in built["augmentation"]]).to(device)
        observers: list[Observer] = list(built["observer"])
        # a video needs frames on disk: every step's when save_every is not set
        every = config.save_every or (1 if config.video.enabled else 0)
        if every:
            frames = FrameSaver(run_dir, every)
            observers.append(frames)
            if config.video.enabled:
                observers.append(VideoWriter(run_dir, config.video.fps, config.video.format, frames))
        observers.extend(extra_observers)
        if self.registry.manager.hook.on_step.get_hookimpls():
            observers.append(StepHook(self.registry.manager.hook.on_step))

        prompts = PromptSet(
            texts=parse_prompts(config.prompt, config.steps, config.prompts.transition),
            images=parse_image_prompts(config.prompts.images),
            targets=parse_image_prompts(config.prompts.targets),
            noise=parse_noise_prompts(config.prompts.noise),
            regions=build_regions(config.prompts.regions, generator.height, generator.width, device, config.cutouts),
        )
        init_image = None
        if config.init_image:
            picture = load_image(config.init_image, "init_image").resize(
                (context.width, context.height), resample=3
            )
            init_image = pil_to_tensor(picture).to(device)
        if start is not None:
            generator.from_image(start.to(device), seed=int(config.seed or 0))
        else:
            generator.init(init_image)
        return Components(
            generator=generator,
            perceptors=perceptors,
            losses=losses,
            augment=augment,
            cutouts=config.cutouts,
            optimizer=config.optimizer,
            observers=observers,
            prompts=prompts,
            init_image=init_image,
            start=None if start is None else start[:, :3].to(device),
            filters=filters,
            transparency=Transparency(config.transparency),
        )


def render(
    prompt: str | None = None,
    preset: str | Path | dict[str, Any] = "default",
    **kwargs: Any,
) -> RenderResult:
    """Render once with a fresh Pipeline: ``pixforge.render("a red circle", preset="draft", steps=20)``."""
    return Pipeline().render(prompt, preset, **kwargs)
