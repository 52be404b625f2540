"""Loading open_clip models offline-friendly, turning every failure a user can fix into a ConfigError.

Random initialisation happens inside a forked RNG with a fixed seed: a model without weights is the
same model every time, and building it never shifts the render's random stream.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pixforge.errors import ConfigError, nearest
from pixforge.precision import weight_dtype
from pixforge.seeding import seeded

#: configs shipped with the plugin (one JSON per model name), registered with open_clip on first load
SHIPPED_CONFIGS = Path(__file__).parent / "model_configs"
#: the seed of every random initialisation, so an untrained model is reproducible
INIT_SEED = 0
_WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".npz")


@dataclass(frozen=True)
class LoadedClip:
    """A frozen model with what using it needs; this is what the ModelCache stores and perceptors share."""

    model: nn.Module
    tokenizer: Any
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    embed_dim: int


def shipped_model_names() -> list[str]:
    return sorted(p.stem for p in SHIPPED_CONFIGS.glob("*.json"))


def register_shipped_configs() -> None:
    """Make the shipped configs known to open_clip (once per process; open_clip keeps a global registry)."""
    import open_clip

    if not set(shipped_model_names()) <= set(open_clip.list_models()):
        open_clip.add_model_config(SHIPPED_CONFIGS)


def closest_models(name: str, names: list[str], n: int = 3) -> list[str]:
    """The valid model names nearest to ``name``, ignoring case."""
    return nearest(name, names, n=n, cutoff=0.4, ignore_case=True)


def unknown_model_error(name: str) -> ConfigError:
    import open_clip

    guesses = closest_models(name, open_clip.list_models())
    hint = "closest: " + ", ".join(f"'{g}'" for g in guesses) if guesses else "none is close"
    return ConfigError(
        f"perceptor 'clip' settings: unknown model '{name}'; {hint} "
        "(all names: open_clip.list_models(), or give a model-config json as 'config')"
    )


def _looks_like_path(value: str) -> bool:
    return os.sep in value or "/" in value or value.lower().endswith(_WEIGHT_SUFFIXES)


def read_config(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A model-config json → (model config, preprocess config).

    Takes open_clip's bare layout (``embed_dim``, ``vision_cfg``, ``text_cfg``) or the ``open_clip_config.json``
    layout (``model_cfg`` with an optional ``preprocess_cfg``, which carries e.g. a model's own mean/std).
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"perceptor 'clip' settings: config '{path}': no such file")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"perceptor 'clip' settings: config '{path}' is not valid JSON ({exc})") from None
    model_cfg = data.get("model_cfg", data) if isinstance(data, dict) else None
    if not isinstance(model_cfg, dict) or not {"embed_dim", "vision_cfg", "text_cfg"} <= set(model_cfg):
        raise ConfigError(
            f"perceptor 'clip' settings: config '{path}' is not an open_clip model config "
            "(it needs embed_dim, vision_cfg and text_cfg)"
        )
    return model_cfg, dict(data.get("preprocess_cfg", {}))


def _weights_file(pretrained: str) -> str:
    path = Path(pretrained).expanduser()
    if not path.is_file():
        raise ConfigError(f"perceptor 'clip' settings: weights file '{pretrained}': no such file")
    return str(path)


def _check_pretrained(model: str, pretrained: str) -> str:
    """'file' or 'tag', or a ConfigError saying why ``pretrained`` is neither."""
    from open_clip.pretrained import get_pretrained_cfg, list_pretrained_tags_by_model

    if Path(pretrained).expanduser().is_file():
        return "file"
    if get_pretrained_cfg(model, pretrained):
        return "tag"
    if _looks_like_path(pretrained):
        _weights_file(pretrained)  # raises, naming the path
    tags = list_pretrained_tags_by_model(model)
    known = "known tags: " + ", ".join(tags[:8]) + (", ..." if len(tags) > 8 else "") if tags else "it has no tags"
    raise ConfigError(
        f"perceptor 'clip' settings: pretrained '{pretrained}' is neither a weights file nor a tag of "
        f"model '{model}' ({known})"
    )


def _stage_local_dir(folder: Path, config: str, pretrained: str | None) -> None:
    """Lay out ``config`` (+ weights) as an open_clip ``local-dir:`` folder, so no global registry changes."""
    model_cfg, preprocess_cfg = read_config(config)
    payload = {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}
    (folder / "open_clip_config.json").write_text(json.dumps(payload), encoding="utf-8")
    if pretrained is not None:
        if not Path(pretrained).expanduser().is_file():
            raise ConfigError(
                f"perceptor 'clip' settings: weights file '{pretrained}': no such file "
                "(with 'config', 'pretrained' must name a local weights file, not a tag)"
            )
        source = Path(pretrained).expanduser().resolve()
        # open_clip reads *.safetensors with safetensors and every other file with torch.load
        name = "open_clip_model.safetensors" if source.suffix == ".safetensors" else "open_clip_pytorch_model.bin"
        target = folder / name
        try:
            target.symlink_to(source)
        except OSError:
            shutil.copyfile(source, target)


class _DropRandomInitNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()


@contextmanager
def _quiet_random_init(quiet: bool) -> Iterator[None]:
    """Hide open_clip's "initialized randomly" warning while building a model that is random by design."""
    if not quiet:
        yield
        return
    root, notice = logging.getLogger(), _DropRandomInitNotice()
    root.addFilter(notice)
    try:
        yield
    finally:
        root.removeFilter(notice)


def _build(model: str, pretrained: str | None, precision: str, device: torch.device) -> tuple[nn.Module, Any]:
    import open_clip

    random_by_design = pretrained is None and model in shipped_model_names()
    with seeded(INIT_SEED), _quiet_random_init(random_by_design):
        net = open_clip.create_model(model, pretrained=pretrained, precision=precision, device=device)
    return net, open_clip.get_tokenizer(model)


def _create(model: str, pretrained: str | None, config: str | None, precision: str, device: torch.device):
    """The raw open_clip model and tokenizer, or a ConfigError for anything the user can fix."""
    import open_clip

    register_shipped_configs()
    if config is not None:
        with tempfile.TemporaryDirectory(prefix="pixforge-clip-") as folder:
            _stage_local_dir(Path(folder), config, pretrained)
            what = f"config '{config}'" + (f" with weights '{pretrained}'" if pretrained else "")
            try:
                return _build(f"local-dir:{folder}", None, precision, device)
            except ConfigError:
                raise
            except Exception as exc:
                raise ConfigError(f"perceptor 'clip': cannot build {what}: {_first_line(exc)}") from exc
    if model.startswith("local-dir:") and not Path(model[len("local-dir:"):]).expanduser().is_dir():
        raise ConfigError(f"perceptor 'clip' settings: model '{model}': no such folder")
    if ":" not in model and open_clip.get_model_config(model) is None:
        raise unknown_model_error(model)
    kind = _check_pretrained(model, pretrained) if pretrained and ":" not in model else None
    try:
        return _build(model, pretrained, precision, device)
    except Exception as exc:
        if kind == "tag":
            raise ConfigError(
                f"perceptor 'clip': pretrained '{pretrained}' of model '{model}' is not in the local cache "
                "and could not be downloaded (offline? HF_HUB_OFFLINE set?); download it once with network "
                f"access, or give a local weights file as 'pretrained' ({_first_line(exc)})"
            ) from exc
        if kind == "file":
            raise ConfigError(
                f"perceptor 'clip': weights file '{pretrained}' does not fit model '{model}': {_first_line(exc)}"
            ) from exc
        if model.startswith("hf-hub:"):
            raise ConfigError(
                f"perceptor 'clip': model '{model}' could not be fetched from the Hugging Face hub "
                f"(offline?): {_first_line(exc)}"
            ) from exc
        raise ConfigError(f"perceptor 'clip': cannot build model '{model}': {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def _side(size: Any) -> int:
    return int(size[0]) if isinstance(size, (tuple, list)) else int(size)


def _embed_dim(model: nn.Module, image_size: int, device: torch.device) -> int:
    dim = getattr(getattr(model, "visual", None), "output_dim", None)
    if isinstance(dim, int):
        return dim
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        try:
            with torch.no_grad():
                probe = torch.zeros(1, 3, image_size, image_size, device=device, dtype=dtype)
                return int(model.encode_image(probe).shape[-1])
        except RuntimeError:
            continue
    raise ConfigError("perceptor 'clip': cannot tell the embedding width of this model")


def load_clip(
    model: str, pretrained: str | None, config: str | None, precision: str, device: torch.device
) -> LoadedClip:
    """Build a frozen open_clip model in eval mode, with its tokenizer and its own preprocessing numbers."""
    net, tokenizer = _create(model, pretrained, config, precision, device)
    net.eval().requires_grad_(False)
    visual = getattr(net, "visual", net)
    preprocess = getattr(visual, "preprocess_cfg", {}) or {}
    size = _side(preprocess.get("size", getattr(visual, "image_size", 224)))
    mean = tuple(float(v) for v in preprocess.get("mean", getattr(visual, "image_mean", (0.5, 0.5, 0.5))))
    std = tuple(float(v) for v in preprocess.get("std", getattr(visual, "image_std", (0.5, 0.5, 0.5))))
    return LoadedClip(net, tokenizer, size, mean, std, _embed_dim(net, size, device))  # type: ignore[arg-type]


def load_named(loader: Any, precision: str, device: torch.device) -> LoadedClip:
    """A model a plugin registered by name (``register_models("clip", name, loader)``).

    The loader returns ``(model, tokenizer, mean, std, image_size)`` with the model frozen and in eval mode.
    """
    net, tokenizer, mean, std, size = loader(device)
    if precision != "fp32":
        net = net.to(weight_dtype(precision))
    net = net.to(device).eval().requires_grad_(False)
    mean = tuple(float(v) for v in mean)
    std = tuple(float(v) for v in std)
    return LoadedClip(net, tokenizer, int(size), mean, std, _embed_dim(net, int(size), device))  # type: ignore[arg-type]
