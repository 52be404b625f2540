"""Mining rounds of guided renders beside the robust trainer, on the other core.

A mining round (``guided_negatives``) costs about as much as six training steps, so run between steps it
takes almost half of a time-boxed run. The trainer runs one torch thread (two do not speed the tiny model
up), which leaves a core idle: a worker process renders there while the trainer goes on.

The exchange is pipelined and deterministic: at a mining step the trainer takes the round it asked for
at the previous mining step (waiting if it is not done) and asks for the next one with its current image
tower. Each round's prompts and noise come from the run's seed and the round's step, never from timing,
so a run of ``max_steps`` gives the same bytes every time. ``InlineMiner`` renders in the trainer's
process instead, for a machine with one core; the trainer takes its rounds in the same order, with the same
lag, so the two give the same weights.
"""

from __future__ import annotations

import random
from multiprocessing import get_context
from typing import Protocol

import torch
from torch import nn

from .guided_negatives import MiningSettings, guided_renders, judged, mining_prompts
from .prompt_sets import WorldPrompt
from .tiny_clip import WordTokenizer

#: what a round gives: the renders, their prompts and whether each passed the analytic check
Mined = tuple[torch.Tensor, list[WorldPrompt], torch.Tensor]


def mining_round(model: nn.Module, tokenizer: WordTokenizer, mean: tuple[float, ...], std: tuple[float, ...],
                 size: int, settings: MiningSettings, seed: int, step: int) -> Mined:
    """One seeded round: prompts and noise depend on ``seed`` and ``step`` alone."""
    rnd = random.Random(f"mining-{seed}-{step}")
    gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
    prompts = mining_prompts(rnd, settings.prompts)
    renders = guided_renders(model, tokenizer, mean, std, prompts, gen, settings, size)
    return renders, prompts, judged(renders, prompts)


class Miner(Protocol):
    def request(self, step: int, model: nn.Module) -> None: ...

    def receive(self) -> Mined | None: ...

    def close(self) -> None: ...


class InlineMiner:
    """Renders each round in the trainer's own process when it is asked for, with the trainer's model of
    that step; ``receive`` hands it over at the next mining step, as ``ProcessMiner`` does."""

    def __init__(self, tokenizer: WordTokenizer, mean: tuple[float, ...], std: tuple[float, ...], size: int,
                 settings: MiningSettings, seed: int) -> None:
        self._args = (tokenizer, mean, std, size, settings, seed)
        self._ready: Mined | None = None

    def request(self, step: int, model: nn.Module) -> None:
        tokenizer, mean, std, size, settings, seed = self._args
        self._ready = mining_round(model, tokenizer, mean, std, size, settings, seed, step)

    def receive(self) -> Mined | None:
        ready, self._ready = self._ready, None
        return ready

    def close(self) -> None:
        self._ready = None


def _serve(connection, model: nn.Module, tokenizer: WordTokenizer, mean: tuple[float, ...], std: tuple[float, ...],
           size: int, settings: MiningSettings, seed: int) -> None:
    """The worker: render every requested round with the image tower it came with, until told to stop
    (``model`` arrives frozen, a ``_frozen_copy``)."""
    torch.set_num_threads(1)
    while True:
        message = connection.recv()
        if message is None:
            break
        step, visual = message
        model.visual.load_state_dict(visual)
        renders, prompts, passed = mining_round(model, tokenizer, mean, std, size, settings, seed, step)
        connection.send((renders.clone(), prompts, passed.clone()))
    connection.close()


class ProcessMiner:
    """Renders each round in a worker process with the image tower of the step that asked for it.

    ``receive`` gives the round asked for by the last ``request`` (waiting for it), so the trainer's
    batches lag one mining interval behind its weights, and never depend on how fast either side ran.
    """

    def __init__(self, model: nn.Module, tokenizer: WordTokenizer, mean: tuple[float, ...], std: tuple[float, ...],
                 size: int, settings: MiningSettings, seed: int) -> None:
        context = get_context("spawn")
        self._connection, theirs = context.Pipe()
        frozen = _frozen_copy(model)
        self._process = context.Process(target=_serve, args=(theirs, frozen, tokenizer, mean, std, size, settings, seed),
                                        daemon=True, name="pixforge-mining")
        self._process.start()
        theirs.close()
        self._pending = False

    def request(self, step: int, model: nn.Module) -> None:
        visual = {k: v.detach().clone() for k, v in model.visual.state_dict().items()}
        self._connection.send((step, visual))
        self._pending = True

    def receive(self) -> Mined | None:
        if not self._pending:
            return None
        self._pending = False
        try:
            renders, prompts, passed = self._connection.recv()
        except EOFError as error:
            raise RuntimeError(f"the mining worker stopped (exit code {self._process.exitcode})") from error
        return renders.clone(), prompts, passed.clone()

    def close(self) -> None:
        if self._process.is_alive():
            try:
                if self._pending:
                    self._connection.recv()
                self._connection.send(None)
            except (BrokenPipeError, EOFError, OSError):
                pass
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join()
        self._connection.close()


def _frozen_copy(model: nn.Module) -> nn.Module:
    import copy

    frozen = copy.deepcopy(model).eval()
    frozen.requires_grad_(False)
    return frozen


def start_miner(workers: int, model: nn.Module, tokenizer: WordTokenizer, mean: tuple[float, ...],
                std: tuple[float, ...], size: int, settings: MiningSettings, seed: int) -> Miner:
    """A worker process (``workers`` = 1) or rounds in the trainer's own process (0)."""
    if workers not in (0, 1):
        raise ValueError(f"mine_workers must be 0 (in the trainer's process) or 1 (a worker process), not {workers}")
    if workers == 0:
        return InlineMiner(tokenizer, mean, std, size, settings, seed)
    return ProcessMiner(model, tokenizer, mean, std, size, settings, seed)
