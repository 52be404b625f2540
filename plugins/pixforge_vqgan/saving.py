"""Writing a trained autoencoder as a small fp16 safetensors file plus its published-layout yaml config."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from safetensors.torch import save_file

from pixforge.outputs import atomic_write_with

from .model import VQAutoencoder
from .spec import spec_to_config

CONFIG_HEADER = (
    "# A taming-transformers model config (the published layout). pixforge never builds lossconfig;\n"
    "# it is torch.nn.Identity so taming's own VQModel(**params) also builds it offline.\n"
)


def save_model(model: VQAutoencoder, out_dir: Path, name: str, metadata: dict[str, str]) -> tuple[Path, Path]:
    """``out_dir/weights/NAME.safetensors`` (fp16) and ``out_dir/configs/NAME.yaml`` → their paths."""
    weights = out_dir / "weights" / f"{name}.safetensors"
    config = out_dir / "configs" / f"{name}.yaml"
    tensors = {key: value.detach().to(torch.float16).contiguous() for key, value in model.state_dict().items()}
    atomic_write_with(weights, lambda path: save_file(tensors, str(path), metadata=metadata))
    text = CONFIG_HEADER + yaml.safe_dump(spec_to_config(model.spec), sort_keys=False, default_flow_style=None)
    atomic_write_with(config, lambda path: path.write_text(text, encoding="utf-8"))
    return weights, config
