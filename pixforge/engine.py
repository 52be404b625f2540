"""The optimisation loop, written out plainly over named components.

generator → filters → cutouts → augmentations → perceptors → weighted losses → optimiser step → observers
"""

from __future__ import annotations

import math
from functools import partial
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .components import Generator, Loss, Observer, PerceptorSlot, RunContext, RunInfo, StepState
from .cutouts import CutoutSettings, make_cutouts, make_cutouts_and_boxes
from .errors import ConfigError
from .faults import describe_system_error, is_out_of_memory
from .filters import FilterChain
from .optim import OptimizerSettings, make_optimizer
from .outputs import save_png, tensor_to_pil
from .profiling import StageProfiler
from .prompts import PromptSet
from .results import RenderDiverged, RenderInterrupted, RenderResult, Status
from .resume import Checkpoint, capture_rng, restore_params, restore_rng, write_status
from .run_folder import RunFolder, extra_file_name
from .transparency import Transparency


@dataclass
class NamedLoss:
    name: str
    weight: float
    loss: Loss


@dataclass
class Components:
    """Everything built for one render."""

    generator: Generator
    perceptors: list[PerceptorSlot]
    losses: list[NamedLoss]
    augment: nn.Module
    cutouts: CutoutSettings
    optimizer: OptimizerSettings
    observers: list[Observer]
    prompts: PromptSet
    init_image: torch.Tensor | None
    #: the picture the generator started from (its layout, a staged render's last stage), ``[1, 3, H, W]``
    start: torch.Tensor | None = None
    #: between the generator and the cutouts (palette, symmetry, a tile's roll)
    filters: FilterChain = field(default_factory=FilterChain)
    #: --transparent: the alpha split off, the view over a random background, the alpha loss
    transparency: Transparency = field(default_factory=Transparency)


class Engine:
    """Runs one render over built components; seeding and building happen outside (see Pipeline)."""

    def __init__(
        self,
        components: Components,
        total_steps: int,
        run_dir: Path,
        png_text: dict[str, str],
        seed: int,
        checkpoint_every: int = 0,
        resume: Checkpoint | None = None,
        compile: bool = False,
    ) -> None:
        self.c = components
        self.checkpoint_every = checkpoint_every
        self.resume = resume
        self.total_steps = total_steps
        self.run_dir = run_dir
        self.png_text = png_text
        #: the render's seed, as the result reports it
        self.seed = seed
        self.by_size: dict[int, list[PerceptorSlot]] = defaultdict(list)
        for slot in components.perceptors:
            self.by_size[slot.perceptor.input_size].append(slot)
        # torch.compile wraps the calls, never the components: their parameters, state and methods stay as they are
        self.generate = torch.compile(components.generator) if compile else components.generator
        self.encoders = {
            slot.key: torch.compile(slot.perceptor.encode_image) if compile else slot.perceptor.encode_image
            for slot in components.perceptors
        }
        #: times each stage of the step when a StageProfiler is among the observers (``render --profile``)
        self.profiler = next((o for o in components.observers if isinstance(o, StageProfiler)), None) or StageProfiler(
            enabled=False
        )

    # -- the perception half of a step ----------------------------------------------------------

    def perceive(self, image: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Cutouts at each perceptor input size (shared by perceptors of the same size), augmented, embedded:
        the embeddings and the cutouts' boxes, by perceptor key."""
        embeddings, boxes = {}, {}
        stage = self.profiler.stage
        for size, slots in self.by_size.items():
            with stage("cutouts"):
                cutouts, cut_boxes = make_cutouts_and_boxes(image, size, self.c.cutouts)
            with stage("augment"):
                batch = self.c.augment(cutouts)
            with stage("perceptor"):
                for slot in slots:
                    embeddings[slot.key] = self.encoders[slot.key](batch)
                    boxes[slot.key] = cut_boxes
        return embeddings, boxes

    def embed_image(self, slot: PerceptorSlot, image: torch.Tensor) -> torch.Tensor:
        """An image prompt, embedded through this render's cutouts and augmentations."""
        image = torch.nn.functional.interpolate(
            image.to(self.device), size=(self.c.generator.height, self.c.generator.width), mode="bilinear",
            align_corners=False, antialias=True,
        )
        with torch.no_grad():
            batch = self.c.augment(make_cutouts(image, slot.perceptor.input_size, self.c.cutouts))
            return slot.perceptor.encode_image(batch)

    @property
    def device(self) -> torch.device:
        params = self.c.generator.parameters_to_optimize()
        return params[0].device if params else torch.device("cpu")

    # -- the loop ------------------------------------------------------------------------------

    def run(self, info: RunInfo) -> RenderResult:
        """Prepare the losses, then step: generate → perceive → weighted losses → backward → optimiser step →
        observers, until the last step, a non-finite loss, Ctrl-C or a component's error."""
        c = self.c
        run = self.run_context()
        for named in c.losses:
            named.loss.prepare(run)
        params = c.generator.parameters_to_optimize()
        optimizer, scheduler = make_optimizer(c.optimizer, c.generator.parameter_groups(), self.total_steps)
        history, start = self._restore(params, optimizer, scheduler)
        info.start_step = start
        for observer in c.observers:
            observer.on_start(info)

        last_good = current = None
        status: Status = "completed"
        message = ""
        step = start
        stage = self.profiler.stage
        try:
            for step in range(start, self.total_steps):
                with stage("generator"):
                    image, alpha = c.transparency.split(self.generate())
                with stage("filters"):
                    image, view, filter_terms = c.filters(image, backdrop=partial(c.transparency.backdrop, alpha=alpha))
                    current = c.transparency.join(image, alpha).detach()
                embeddings, boxes = self.perceive(view)
                state = StepState(step, self.total_steps, image, embeddings, c.generator, boxes=boxes, alpha=alpha)
                with stage("losses"):
                    terms = ({n.name: n.weight * n.loss(state) for n in c.losses} | filter_terms
                             | c.transparency.loss(alpha))
                    total = sum(terms.values(), torch.zeros((), device=image.device))
                with stage("backward"):
                    optimizer.zero_grad(set_to_none=True)
                    if total.requires_grad:  # a total without a graph fails below, once it is known to be finite
                        total.backward()
                # the step's one wait for the device: every loss and whether the image is finite, in one copy
                # (after backward is queued, so a GPU keeps busy); nothing has changed the parameters yet
                with stage("losses"):
                    values = torch.stack([total.detach(), *(t.detach().float().reshape(()) for t in terms.values()),
                                          torch.isfinite(current).all().float()]).tolist()
                loss, finite = values[0], values[-1] == 1.0
                if not (finite and math.isfinite(loss)):
                    status, message = "diverged", divergence_message(loss, step, dict(zip(terms, values[1:-1])))
                    break
                if not total.requires_grad:
                    total.backward()  # raises: no loss reaches the generator's parameters
                last_good = current
                with stage("optimiser"):
                    optimizer.step()
                    scheduler.step()
                    with torch.no_grad():
                        c.generator.after_step()
                state.losses = dict(zip(terms, values[1:-1]))
                state.loss = loss
                history.append({"step": step + 1, "loss": state.loss, **state.losses})
                with stage("observers"):
                    for observer in c.observers:
                        observer.on_step(state)
                    self._checkpoint(step + 1, params, optimizer, scheduler, history)
            else:
                step = self.total_steps
        except KeyboardInterrupt:
            result = self._finish(info, self._final_image("interrupted", last_good, current), history,
                                  "interrupted", "interrupted", step)
            raise RenderInterrupted(result) from None
        except Exception as exc:
            # a crash in a component still leaves the last good image and the settings behind, and run.json
            # says why (a full disk can stop the keeping too: then the first error is the one reported)
            if last_good is not None or current is not None:
                why = describe_system_error(exc) if isinstance(exc, OSError) or is_out_of_memory(exc) else (
                    f"{type(exc).__name__}: {exc}")
                try:
                    self._finish(info, self._final_image("failed", last_good, current), history, "failed", why, step)
                except Exception:  # noqa: BLE001
                    pass
            raise

        result = self._finish(info, self._final_image(status, last_good, current), history, status, message, step)
        if status == "diverged":
            raise RenderDiverged(f"{message}: {result.final_path}", result)
        return result

    # -- the loop's named steps ---------------------------------------------------------------

    def run_context(self) -> RunContext:
        """What losses see when they prepare."""
        c = self.c
        return RunContext(
            prompts=c.prompts,
            perceptors=c.perceptors,
            generator=c.generator,
            init_image=c.init_image,
            start=c.start,
            total_steps=self.total_steps,
            device=self.device,
            embed_image=self.embed_image,
        )

    def _restore(
        self, params: list[torch.Tensor], optimizer: torch.optim.Optimizer, scheduler: Any
    ) -> tuple[list[dict[str, float]], int]:
        """A resumed render's parameters, optimiser, schedule and random state back from its checkpoint:
        the loss history so far and the step to continue from (an empty history and 0 for a fresh render)."""
        if self.resume is None:
            return [], 0
        restore_params(params, self.resume)
        try:
            optimizer.load_state_dict(self.resume.optimizer)
            scheduler.load_state_dict(self.resume.scheduler)
            restore_rng(self.resume, self.device)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
            raise ConfigError(
                f"--resume '{self.run_dir}': its checkpoint does not fit this render ({type(exc).__name__}); "
                "render again without --resume"
            ) from None
        return list(self.resume.history), self.resume.step

    def _checkpoint(
        self, done: int, params: list[torch.Tensor], optimizer: torch.optim.Optimizer, scheduler: Any,
        history: list[dict[str, float]],
    ) -> None:
        """Write checkpoint.pt every ``checkpoint_every`` steps (not after the last: the render is then done)."""
        if self.checkpoint_every and done % self.checkpoint_every == 0 and done < self.total_steps:
            rng_cpu, rng_cuda = capture_rng(self.device)
            Checkpoint(done, params, optimizer.state_dict(), scheduler.state_dict(), rng_cpu, rng_cuda,
                       history).save(self.run_dir)

    def _final_image(
        self, status: Status, last_good: torch.Tensor | None, current: torch.Tensor | None
    ) -> torch.Tensor:
        """The image a render keeps: the parameters' own after the last step when it completed; otherwise the
        last image whose loss was finite, else the unfinished step's image (not a diverged one's), else the
        parameters' own."""
        if status != "completed":
            if last_good is not None:
                return last_good
            if current is not None and status != "diverged":
                return current
        with torch.no_grad():
            colour, alpha = self.c.transparency.split(self.c.generator())
            return self.c.transparency.join(self.c.filters.picture(colour), alpha).detach()

    def _finish(
        self, info: RunInfo, final: torch.Tensor, history: list[dict[str, float]], status: Status,
        message: str, steps_done: int,
    ) -> RenderResult:
        """Write final.png (atomically) and let observers close, whatever way the loop ended."""
        samples = final.float().cpu()
        final = samples[:1]
        folder = RunFolder(self.run_dir)
        save_png(folder.final, final, self.png_text)
        for name, data in self.c.generator.extra_files().items():
            folder.write_bytes(extra_file_name(name), data)
        for observer in self.c.observers:
            observer.on_end(info, final)
        write_status(self.run_dir, status, steps_done, self.total_steps, message)
        return RenderResult(
            image=tensor_to_pil(final),
            tensor=final,
            run_dir=self.run_dir,
            losses=history,
            seed=self.seed,
            settings=info.settings,
            status=status,
            message=message,
            steps_done=steps_done,
            samples=samples,
        )


def divergence_message(loss: float, step: int, losses: dict[str, float]) -> str:
    """What a render that diverged at ``step`` (0-based) says: the total, the terms that went bad, and a fix."""
    bad = [name for name, value in losses.items() if not math.isfinite(value)]
    return (
        f"loss became {loss} at step {step + 1}"
        + (f" (from {', '.join(bad)})" if bad else "")
        + "; kept the last good image. Try a lower optimizer.lr or loss weights"
    )
