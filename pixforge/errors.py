"""Errors a user can fix: the CLI prints them as one line, without a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PixforgeError(Exception):
    """A mistake in the user's input or environment, told in one clear line."""


class ConfigError(PixforgeError):
    """A preset, setting or override that is not valid."""


class PluginError(PixforgeError):
    """A plugin that cannot be found or loaded."""


class PixforgeWarning(UserWarning):
    """Something a user should know that does not stop the command (the CLI prints it as one line)."""


class VocabularyWarning(PixforgeWarning):
    """A prompt word the perceptor's model does not know; a layout leaves it to the render it starts."""


class RenderAborted(PixforgeError):
    """A render that stopped early (NaN loss, interrupt); its run folder keeps what it made."""


def nearest(word: str, choices: Iterable[str], n: int = 1, cutoff: float = 0.5, ignore_case: bool = False) -> list[str]:
    """Up to ``n`` valid spellings near ``word`` among ``choices``, nearest first (the one name matcher)."""
    options = list(choices)
    if not ignore_case:
        return difflib.get_close_matches(word, options, n=n, cutoff=cutoff)
    by_lower = {option.lower(): option for option in options}
    return [by_lower[m] for m in difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=cutoff)]


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The closest valid spelling of ``word`` among ``choices``, if any is close enough."""
    matches = nearest(word, choices)
    return matches[0] if matches else None


#: what users of Pixray and VQGAN-CLIP call a setting → pixforge's name for it, tried before spelling
SYNONYMS: dict[str, str] = {
    "iterations": "steps",
    "iters": "steps",
    "num_cuts": "cutouts",
    "cuts": "cutouts",
    "cutn": "cutouts",
    "drawer": "generator",
    "learning_rate": "lr",
    "optimiser": "optimizer",
    "augments": "augmentations",
    "image_prompts": "images",
    "init_noise": "init",
    "make_video": "video",
    "output": "out",
}


def suggest(word: str, choices: Iterable[str]) -> str:
    """A short hint: 'did you mean X?' where a synonym or a close spelling is valid, else the valid choices."""
    options = sorted(set(choices))
    guess = SYNONYMS.get(word) if SYNONYMS.get(word) in options else closest(word, options)
    if guess:
        return f"did you mean '{guess}'?"
    return "valid: " + ", ".join(options) if options else "none are available"
