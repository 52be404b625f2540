"""The names the search pack's commands need at start-up, kept out of its torch modules."""

from __future__ import annotations

#: the model classify/index use when none is named: the shipped tiny CLIP
DEFAULT_MODEL = "pixforge-tiny-clip"
#: the perceptor plugin that embeds; any perceptor with the same contract would do
PERCEPTOR = "clip"
