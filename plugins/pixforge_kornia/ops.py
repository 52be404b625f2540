"""The kornia augmentations, one small class each: a strict Settings model and a build() that makes the op.

Defaults follow VQGAN-CLIP's cutout augmentations, which are tuned for CLIP guidance: strong enough
that adversarial pixel patterns stop paying off, mild enough that the cutout still shows its subject.
Every op takes ``p``, the chance that it is applied to each cutout.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import kornia.augmentation as K
from pydantic import AfterValidator, Field
from torch import nn

from pixforge.components import Augmentation
from pixforge.settings import StrictModel

from .color_matrix import ColorMatrixJitter
from .resized_crop import SizeKeepingResizedCrop


def _ordered(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError(f"a range is (low, high) with low <= high, got {list(value)}")
    return value


def _odd(value: int) -> int:
    if value % 2 == 0:
        raise ValueError(f"must be odd, got {value}")
    return value


Positive = Annotated[float, Field(gt=0.0)]
#: a (low, high) range of sizes or ratios, both above zero; YAML lists are accepted
PositiveRange = Annotated[tuple[Positive, Positive], AfterValidator(_ordered)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Resample = Literal["bilinear", "nearest"]
Padding = Literal["zeros", "border", "reflection"]


class OpSettings(StrictModel):
    """What every augmentation takes: the chance it is applied to each cutout."""

    p: Probability = 0.5


class Affine(Augmentation):
    description: ClassVar[str] = "random rotation, shift, shear and zoom in one warp (kornia RandomAffine)"

    class Settings(OpSettings):
        p: Probability = 0.7
        #: rotation drawn from [-degrees, degrees]
        degrees: float = Field(default=15.0, ge=0.0, le=180.0)
        #: largest shift, as a fraction of the side, in x and in y
        translate: float = Field(default=0.1, ge=0.0, le=1.0)
        #: zoom range, e.g. [0.9, 1.1]; none keeps the scale
        scale: PositiveRange | None = None
        #: shear drawn from [-shear, shear] degrees
        shear: float = Field(default=5.0, ge=0.0, le=90.0)
        #: what fills the corners the warp uncovers; border avoids black wedges CLIP would read as content
        padding_mode: Padding = "border"
        resample: Resample = "bilinear"

    settings: Settings

    def build(self) -> nn.Module:
        s = self.settings
        return K.RandomAffine(
            degrees=s.degrees,
            translate=(s.translate, s.translate) if s.translate > 0 else None,
            scale=s.scale,
            shear=s.shear if s.shear > 0 else None,
            resample=s.resample,
            padding_mode=s.padding_mode,
            p=s.p,
        )


class Perspective(Augmentation):
    description: ClassVar[str] = "random perspective warp, as if seen from another angle (kornia RandomPerspective)"

    class Settings(OpSettings):
        p: Probability = 0.7
        #: how far each corner may move, as a fraction of the side (0: none, 1: up to half the side)
        distortion_scale: float = Field(default=0.7, ge=0.0, le=1.0)
        resample: Resample = "bilinear"

    settings: Settings

    def build(self) -> nn.Module:
        s = self.settings
        return K.RandomPerspective(distortion_scale=s.distortion_scale, resample=s.resample, p=s.p)


class ColorJitter(Augmentation):
    description: ClassVar[str] = "random brightness, contrast, saturation and hue shifts (a colour matrix per cutout, or kornia ColorJitter)"

    class Settings(OpSettings):
        p: Probability = 0.7
        #: each factor drawn from [1 - x, 1 + x] (hue: shift drawn from [-x, x] turns)
        brightness: float = Field(default=0.0, ge=0.0, le=1.0)
        contrast: float = Field(default=0.0, ge=0.0)
        saturation: float = Field(default=0.1, ge=0.0)
        hue: float = Field(default=0.1, ge=0.0, le=0.5)
        #: matrix: all four as one colour matrix per cutout, hue turned about the grey axis (about 10x
        #: cheaper, see pixforge_kornia.color_matrix); hsv: kornia's ColorJitter, hue shifted in HSV
        method: Literal["matrix", "hsv"] = "matrix"

    settings: Settings

    def build(self) -> nn.Module:
        s = self.settings
        jitter = ColorMatrixJitter if s.method == "matrix" else K.ColorJitter
        return jitter(brightness=s.brightness, contrast=s.contrast, saturation=s.saturation, hue=s.hue, p=s.p)


class Erasing(Augmentation):
    description: ClassVar[str] = "blank out a random rectangle, so no single region carries the prompt (kornia RandomErasing)"

    class Settings(OpSettings):
        p: Probability = 0.7
        #: erased area, as a fraction of the cutout
        scale: PositiveRange = (0.1, 0.4)
        #: aspect ratio (width / height) of the erased rectangle
        ratio: PositiveRange = (0.3, 3.3)
        #: the value written into the rectangle
        value: float = Field(default=0.0, ge=0.0, le=1.0)

    settings: Settings

    def build(self) -> nn.Module:
        s = self.settings
        return K.RandomErasing(scale=s.scale, ratio=s.ratio, value=s.value, p=s.p)


class Sharpness(Augmentation):
    description: ClassVar[str] = "random sharpening (kornia RandomSharpness)"

    class Settings(OpSettings):
        p: Probability = 0.4
        #: sharpening factor drawn from [0, sharpness]
        sharpness: float = Field(default=0.3, ge=0.0)

    settings: Settings

    def build(self) -> nn.Module:
        s = self.settings
        return K.RandomSharpness(sharpness=s.sharpness, p=s.p)


class GaussianNoise(Augmentation):
    description: ClassVar[str] = "additive Gaussian pixel noise (kornia RandomGaussianNoise)"

    class Settings(OpSettings):
        p: Probability = 0.5
        mean: float = 0.0
        #: noise deviation on 0..1 pixels; VQGAN-CLIP's noise_fac is 0.1 (its std=1 option drowns the image)
        std: float = Field(default=0.1, ge=0.0)

    settings: Settings

    def build(self) -> nn.Module:
        s = self.settings
        return K.RandomGaussianNoise(mean=s.mean, std=s.std, p=s.p)


class Rotation(Augmentation):
    description: ClassVar[str] = "random rotation about the centre (kornia RandomRotation)"

    class Settings(OpSettings):
        p: Probability = 0.7
        #: angle drawn from [-degrees, degrees]
        degrees: float = Field(default=15.0, ge=0.0, le=180.0)
        resample: Resample = "bilinear"

    settings: Settings

    def build(self) -> nn.Module:
        s = self.settings
        return K.RandomRotation(degrees=s.degrees, resample=s.resample, p=s.p)


class Elastic(Augmentation):
    description: ClassVar[str] = "smooth random elastic distortion (kornia RandomElasticTransform)"

    class Settings(OpSettings):
        p: Probability = 0.7
        #: side of the Gaussian that smooths the displacement field, in pixels; odd
        kernel_size: Annotated[int, Field(ge=3), AfterValidator(_odd)] = 63
        #: that Gaussian's deviation in pixels: larger gives smoother, smaller displacements
        sigma: float = Field(default=32.0, gt=0.0)
        #: displacement strength, in normalised coordinates (-1..1 across the cutout)
        alpha: float = Field(default=1.0, ge=0.0)
        padding_mode: Padding = "zeros"
        resample: Resample = "bilinear"

    settings: Settings

    def build(self) -> nn.Module:
        s = self.settings
        return K.RandomElasticTransform(
            kernel_size=(s.kernel_size, s.kernel_size),
            sigma=(s.sigma, s.sigma),
            alpha=(s.alpha, s.alpha),
            resample=s.resample,
            padding_mode=s.padding_mode,
            p=s.p,
        )


class ThinPlateSpline(Augmentation):
    description: ClassVar[str] = "random smooth thin-plate-spline warp (kornia RandomThinPlateSpline)"

    class Settings(OpSettings):
        p: Probability = 0.7
        #: how far the control points move, in normalised coordinates; 0.2 bends, 0.8 (VQGAN-CLIP) churns
        scale: float = Field(default=0.2, ge=0.0, le=1.0)
        padding_mode: Padding = "zeros"

    settings: Settings

    def build(self) -> nn.Module:
        s = self.settings
        return K.RandomThinPlateSpline(scale=s.scale, padding_mode=s.padding_mode, p=s.p)


class ResizedCrop(Augmentation):
    description: ClassVar[str] = "zoom into a random patch and resize it back to the cutout's size (kornia RandomResizedCrop)"

    class Settings(OpSettings):
        p: Probability = 0.5
        #: patch area, as a fraction of the cutout
        scale: PositiveRange = (0.1, 1.0)
        #: patch aspect ratio (width / height); the patch is stretched back to a square
        ratio: PositiveRange = (0.75, 4.0 / 3.0)
        resample: Resample = "bilinear"

    settings: Settings

    def build(self) -> nn.Module:
        s = self.settings
        return SizeKeepingResizedCrop(scale=s.scale, ratio=s.ratio, resample=s.resample, p=s.p)


class Flip(Augmentation):
    description: ClassVar[str] = "mirror left to right (kornia RandomHorizontalFlip)"

    class Settings(OpSettings):
        p: Probability = 0.5

    settings: Settings

    def build(self) -> nn.Module:
        return K.RandomHorizontalFlip(p=self.settings.p)


#: registry names -> classes, in the order `pixforge list` shows them
AUGMENTATIONS: dict[str, type[Augmentation]] = {
    "affine": Affine,
    "perspective": Perspective,
    "color_jitter": ColorJitter,
    "erasing": Erasing,
    "sharpness": Sharpness,
    "gaussian_noise": GaussianNoise,
    "rotation": Rotation,
    "elastic": Elastic,
    "thin_plate_spline": ThinPlateSpline,
    "resized_crop": ResizedCrop,
    "flip": Flip,
}
