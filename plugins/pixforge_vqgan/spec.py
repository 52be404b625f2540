"""Reading a taming-transformers model config (the published yaml layout) into what building a model needs.

Only the autoencoder's shape is read: ``lossconfig`` is never looked at beyond its presence, because the
published loss (``VQLPIPSWithDiscriminator``) downloads VGG weights when it is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pixforge.errors import ConfigError

VQ_TARGET = "taming.models.vqgan.VQModel"
GUMBEL_TARGET = "taming.models.vqgan.GumbelVQ"
TRANSFORMER_TARGET = "taming.models.cond_transformer.Net2NetTransformer"
SUPPORTED_TARGETS = (VQ_TARGET, GUMBEL_TARGET, TRANSFORMER_TARGET)

Kind = Literal["vq", "gumbel"]


@dataclass(frozen=True)
class VQSpec:
    """An autoencoder's shape, and where its weights sit inside the checkpoint's state dict."""

    kind: Kind
    ddconfig: dict[str, Any]
    n_embed: int
    embed_dim: int
    #: prefix of the autoencoder's keys in the checkpoint ("first_stage_model." inside a transformer)
    prefix: str = ""
    #: taming's optional class-colouring buffer (segmentation models), kept so strict loading works
    colorize_nlabels: int | None = None
    source: str = field(default="", compare=False)

    @property
    def factor(self) -> int:
        """The downsampling factor: canvas sides must be a multiple of it."""
        return 2 ** (len(self.ddconfig["ch_mult"]) - 1)

    @property
    def z_channels(self) -> int:
        return int(self.ddconfig["z_channels"])

    @property
    def latent_channels(self) -> int:
        """Channels of the optimised latent: code vectors for VQ, logits over the codebook for Gumbel."""
        return self.n_embed if self.kind == "gumbel" else self.embed_dim


def read_config(path: str | Path) -> dict[str, Any]:
    """A yaml file as plain containers (through OmegaConf, as taming reads it); errors name the file."""
    from omegaconf import OmegaConf

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"generator 'vqgan': config file not found: {path}")
    try:
        data = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except Exception as error:  # omegaconf/yaml raise many kinds
        raise ConfigError(f"generator 'vqgan': cannot read config {path}: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"generator 'vqgan': config {path} is not a mapping")
    return data


def parse_spec(config: dict[str, Any], source: str = "config") -> VQSpec:
    """The autoencoder described by a taming config dict (``{model: {target, params}}``)."""
    model = config.get("model", config)
    if not isinstance(model, dict) or "target" not in model:
        raise ConfigError(f"generator 'vqgan': {source} has no 'model.target'; expected the taming layout")
    return _spec_from(model, source, prefix="")


def _spec_from(model: dict[str, Any], source: str, prefix: str) -> VQSpec:
    target = str(model.get("target"))
    params = model.get("params") or {}
    if target == TRANSFORMER_TARGET:
        first = params.get("first_stage_config")
        if not isinstance(first, dict):
            raise ConfigError(f"generator 'vqgan': {source} is a transformer without 'first_stage_config'")
        return _spec_from(first, source, prefix=prefix + "first_stage_model.")
    if target not in (VQ_TARGET, GUMBEL_TARGET):
        raise ConfigError(
            f"generator 'vqgan': {source} has model target '{target}'; supported: " + ", ".join(SUPPORTED_TARGETS)
        )
    missing = [key for key in ("ddconfig", "n_embed", "embed_dim") if key not in params]
    if missing:
        raise ConfigError(f"generator 'vqgan': {source} lacks model params {', '.join(missing)}")
    if params.get("remap") is not None:
        raise ConfigError(f"generator 'vqgan': {source} uses a codebook 'remap', which is not supported")
    ddconfig = dict(params["ddconfig"])
    for key in ("ch", "ch_mult", "num_res_blocks", "z_channels", "resolution"):
        if key not in ddconfig:
            raise ConfigError(f"generator 'vqgan': {source} ddconfig lacks '{key}'")
    ddconfig.setdefault("in_channels", 3)
    ddconfig.setdefault("out_ch", 3)
    ddconfig.setdefault("attn_resolutions", [])
    ddconfig["ch_mult"] = list(ddconfig["ch_mult"])
    ddconfig["attn_resolutions"] = list(ddconfig["attn_resolutions"])
    return VQSpec(
        kind="gumbel" if target == GUMBEL_TARGET else "vq",
        ddconfig=ddconfig,
        n_embed=int(params["n_embed"]),
        embed_dim=int(params["embed_dim"]),
        prefix=prefix,
        colorize_nlabels=params.get("colorize_nlabels"),
        source=source,
    )


def spec_to_config(spec: VQSpec) -> dict[str, Any]:
    """A config in the published layout for ``spec``; its loss is ``torch.nn.Identity`` so taming builds it offline."""
    params: dict[str, Any] = {
        "embed_dim": spec.embed_dim,
        "n_embed": spec.n_embed,
        "ddconfig": dict(spec.ddconfig),
        "lossconfig": {"target": "torch.nn.Identity"},
    }
    if spec.kind == "gumbel":
        params["kl_weight"] = 1.0e-8
        params["temperature_scheduler_config"] = {
            "target": "taming.lr_scheduler.LambdaWarmUpCosineScheduler",
            "params": {"warm_up_steps": 0, "max_decay_steps": 1, "lr_start": 1.0, "lr_max": 1.0, "lr_min": 1.0},
        }
    target = GUMBEL_TARGET if spec.kind == "gumbel" else VQ_TARGET
    return {"model": {"base_learning_rate": 4.5e-06, "target": target, "params": params}}
