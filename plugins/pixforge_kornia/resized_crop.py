"""A kornia RandomResizedCrop whose output is the size of its input.

kornia's RandomResizedCrop fixes its output size when it is built, but an augmentation is built
before the perceptor (and so the cutout size) is known, and one render may feed several
perceptors with different input sizes. This subclass reads the size from each batch instead, so it
stays a real kornia op that composes in an ``AugmentationSequential``.
"""

from __future__ import annotations

from typing import Any

import kornia.augmentation as K
import torch


class SizeKeepingResizedCrop(K.RandomResizedCrop):
    """Crop a random patch (area fraction ``scale``, aspect ``ratio``) and resize it back to the input's size.

    Because the shape never changes, ``p`` gates each sample on its own (kornia's parent can only
    gate the whole batch, since its output size may differ from the input's). Always crops by
    resampling (``cropping_mode="resample"``), the batched and differentiable path.
    """

    def __init__(
        self,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
        resample: str = "bilinear",
        align_corners: bool = True,
        same_on_batch: bool = False,
        p: float = 1.0,
    ) -> None:
        # (1, 1) is a placeholder: the real output size is taken from each input.
        super().__init__(
            size=(1, 1),
            scale=scale,
            ratio=ratio,
            resample=resample,
            same_on_batch=same_on_batch,
            align_corners=align_corners,
            p=1.0,
            cropping_mode="resample",
        )
        self.p = p
        self.p_batch = 1.0
        self.flags["size"] = None

    def generate_parameters(self, batch_shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
        """The parent's crop boxes, with the destination box set to the whole input."""
        params = super().generate_parameters(batch_shape)
        height, width = int(batch_shape[-2]), int(batch_shape[-1])
        src = params["src"]
        corners = [[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]]
        params["dst"] = torch.tensor(corners, device=src.device, dtype=src.dtype).expand(src.shape[0], 4, 2)
        params["output_size"] = torch.tensor([height, width], dtype=torch.long).expand(src.shape[0], 2)
        return params

    def apply_transform(
        self,
        input: torch.Tensor,
        params: dict[str, torch.Tensor],
        flags: dict[str, Any],
        transform: torch.Tensor | None = None,
    ) -> torch.Tensor:
        size = (int(input.shape[-2]), int(input.shape[-1]))
        return super().apply_transform(input, params, {**flags, "size": size}, transform=transform)
