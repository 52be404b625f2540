"""The ``clip`` perceptor: an open_clip model, frozen, shared through the build context's model cache."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F

from pixforge.components import BuildContext, Perceptor
from pixforge.errors import ConfigError, VocabularyWarning
from pixforge.precision import autocast_for, weight_dtype, weights_precision
from pixforge.settings import StrictModel
from pixforge.weights import WeightEntry
from pixforge.weights.cache import offline
from pixforge.weights.openclip import ensure as ensure_open_clip

from .loading import LoadedClip, load_clip, load_named
from .speed import is_conv_tower, prepare_for_guidance, sequence_first_attention

class ClipSettings(StrictModel):
    """Which open_clip model, which weights, and at what precision."""

    #: any open_clip model name (``ViT-B-32``, ``hf-hub:...``, ``local-dir:...``) or a shipped one;
    #: only a label when ``config`` is set
    model: str = "pixforge-tiny-random"
    #: an open_clip pretrained tag (``openai``, needs the weights in the local cache or network) or a
    #: local weights file (``.pt``/``.bin`` state dict or ``.safetensors``); None: random weights (seeded)
    pretrained: str | None = None
    #: a local open_clip model-config json; with it, ``pretrained`` must be a weights file
    config: str | None = None
    #: fp32/fp16/bf16: the weights' dtype; amp_bf16/amp_fp16: float32 weights with the image tower run
    #: under torch.autocast (mixed precision: fast on GPUs; on a CPU without AMX bf16 is slower than fp32).
    #: Embeddings are always returned as float32
    precision: Literal["fp32", "fp16", "bf16", "amp_bf16", "amp_fp16"] = "fp32"


def require_cached_tag(settings: ClipSettings, context: BuildContext) -> None:
    """With downloads off, a pretrained tag missing from open_clip's cache is one clear error up front.

    open_clip itself would go to the network; a weights file, a local config or a ``hf-hub:``/
    ``local-dir:`` name is left to open_clip.
    """
    tag = settings.pretrained
    if not tag or settings.config or ":" in settings.model or Path(tag).expanduser().is_file():
        return
    allowed = context.allow_download if context.allow_download is not None else not offline()
    if allowed:
        return
    name = f"{settings.model}/{tag}"
    entry = context.weights.get(name) or WeightEntry(name=name, kind="clip", open_clip=(settings.model, tag))
    if entry.open_clip is not None:
        ensure_open_clip(entry, allow_download=False)


def faster(loaded: LoadedClip) -> LoadedClip:
    """The loaded model rewritten for fast guidance, the same function (see pixforge_clip.speed)."""
    prepare_for_guidance(loaded.model)
    return loaded


def cache_key(settings: ClipSettings, device: torch.device) -> tuple[Any, ...]:
    """What makes two loaded models interchangeable."""
    return ("clip", settings.model, settings.pretrained, settings.config, weights_precision(settings.precision), device)


class ClipPerceptor(Perceptor[ClipSettings]):
    """Embeds images (normalised with the model's own mean/std) and texts (its own tokenizer) to unit vectors.

    Text embeddings are cached per string on the instance, so each prompt is encoded once per render.
    """

    Settings = ClipSettings
    description = "an open_clip CLIP model (any open_clip name; the tiny random pixforge-tiny-random by default)"

    def __init__(self, settings: ClipSettings, context: BuildContext) -> None:
        super().__init__(settings, context)
        named = context.models.get("clip", {}).get(settings.model)
        if named is not None and (settings.pretrained or settings.config):
            raise ConfigError(
                f"perceptor 'clip' settings: '{settings.model}' is a model shipped by a plugin; "
                "it takes no 'pretrained' or 'config'"
            )
        if named is None:
            require_cached_tag(settings, context)
        loaded: LoadedClip = context.cache.get(
            cache_key(settings, context.device),
            lambda: faster(
                load_named(named, weights_precision(settings.precision), context.device)
                if named is not None
                else load_clip(
                    settings.model, settings.pretrained, settings.config, weights_precision(settings.precision),
                    context.device,
                )
            ),
        )
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.embed_dim = loaded.embed_dim
        self._size = loaded.image_size
        device = next(self.model.parameters()).device
        self.register_buffer("mean", torch.tensor(loaded.mean, device=device).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(loaded.std, device=device).view(1, 3, 1, 1), persistent=False)
        self._texts: dict[str, torch.Tensor] = {}
        self._channels_last = is_conv_tower(self.model)

    @property
    def input_size(self) -> int:
        return self._size

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the model takes its input in (open_clip casts only some layers, so the parameters'
        dtypes are mixed and cannot tell it)."""
        return weight_dtype(self.settings.precision)

    @property
    def logit_scale(self) -> float | None:
        scale = getattr(self.model, "logit_scale", None)
        return float(scale.detach().exp().clamp(max=100).item()) if scale is not None else None

    @property
    def logit_bias(self) -> float | None:
        bias = getattr(self.model, "logit_bias", None)
        return float(bias.detach().item()) if bias is not None else None

    def train(self, mode: bool = True) -> ClipPerceptor:
        """The shared model stays in eval mode whatever the perceptor's mode."""
        super().train(mode)
        self.model.eval()
        return self

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(device=self.mean.device, dtype=torch.float32)
        if x.shape[-2:] != (self._size, self._size):
            x = F.interpolate(x, size=(self._size, self._size), mode="bilinear", align_corners=False, antialias=True)
        x = (x - self.mean) / self.std
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        mixed = autocast_for(self.settings.precision, x.device)
        with mixed, sequence_first_attention(self.model, torch.is_grad_enabled()):
            features = self.model.encode_image(x.to(self.dtype))
        return F.normalize(features.float(), dim=-1)

    def _warn_unknown_words(self, texts: list[str]) -> None:
        """A word-vocabulary model (the tiny CLIPs) reads unknown words as ``<unk>``: say which, once per call."""
        unknown = getattr(self.tokenizer, "unknown_words", None)
        words = unknown(texts) if callable(unknown) else []
        if words:
            name = self.settings.model
            warnings.warn(
                f"{name} does not know the word{'s' if len(words) > 1 else ''} {', '.join(repr(w) for w in words)} "
                f"(read as unknown); its vocabulary: `pixforge models show {name}`",
                VocabularyWarning,
                stacklevel=3,
            )

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        missing = [t for t in dict.fromkeys(texts) if t not in self._texts]
        if missing:
            self._warn_unknown_words(missing)
            with torch.no_grad():
                tokens = self.tokenizer(missing).to(self.mean.device)
                features = F.normalize(self.model.encode_text(tokens).float(), dim=-1)
            self._texts.update(zip(missing, features, strict=True))
        if not texts:
            return torch.zeros(0, self.embed_dim, device=self.mean.device)
        return torch.stack([self._texts[t] for t in texts])
