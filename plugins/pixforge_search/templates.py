"""Prompt templates for zero-shot classification: a label becomes one or more sentences.

The lists are the ones OpenAI published in CLIP's ``Prompt_Engineering_for_ImageNet`` notebook: 80
templates that together gave the best ImageNet accuracy, and 7 of them selected as nearly as good.
"""

from __future__ import annotations

from pathlib import Path

from pixforge.errors import ConfigError
from pixforge.files import read_text

#: OpenAI's 80 ImageNet templates, in the notebook's order
IMAGENET_TEMPLATES: tuple[str, ...] = (
    "a bad photo of a {}.",
    "a photo of many {}.",
    "a sculpture of a {}.",
    "a photo of the hard to see {}.",
    "a low resolution photo of the {}.",
    "a rendering of a {}.",
    "graffiti of a {}.",
    "a bad photo of the {}.",
    "a cropped photo of the {}.",
    "a tattoo of a {}.",
    "the embroidered {}.",
    "a photo of a hard to see {}.",
    "a bright photo of a {}.",
    "a photo of a clean {}.",
    "a photo of a dirty {}.",
    "a dark photo of the {}.",
    "a drawing of a {}.",
    "a photo of my {}.",
    "the plastic {}.",
    "a photo of the cool {}.",
    "a close-up photo of a {}.",
    "a black and white photo of the {}.",
    "a painting of the {}.",
    "a painting of a {}.",
    "a pixelated photo of the {}.",
    "a sculpture of the {}.",
    "a bright photo of the {}.",
    "a cropped photo of a {}.",
    "a plastic {}.",
    "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.",
    "a photo of the {}.",
    "a good photo of the {}.",
    "a rendering of the {}.",
    "a {} in a video game.",
    "a photo of one {}.",
    "a doodle of a {}.",
    "a close-up photo of the {}.",
    "a photo of a {}.",
    "the origami {}.",
    "the {} in a video game.",
    "a sketch of a {}.",
    "a doodle of the {}.",
    "a origami {}.",
    "a low resolution photo of a {}.",
    "the toy {}.",
    "a rendition of the {}.",
    "a photo of the clean {}.",
    "a photo of a large {}.",
    "a rendition of a {}.",
    "a photo of a nice {}.",
    "a photo of a weird {}.",
    "a blurry photo of a {}.",
    "a cartoon {}.",
    "art of a {}.",
    "a sketch of the {}.",
    "a embroidered {}.",
    "a pixelated photo of a {}.",
    "itap of the {}.",
    "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.",
    "a plushie {}.",
    "a photo of the nice {}.",
    "a photo of the small {}.",
    "a photo of the weird {}.",
    "the cartoon {}.",
    "art of the {}.",
    "a drawing of the {}.",
    "a photo of the large {}.",
    "a black and white photo of a {}.",
    "the plushie {}.",
    "a dark photo of a {}.",
    "itap of a {}.",
    "graffiti of the {}.",
    "a toy {}.",
    "itap of my {}.",
    "a photo of a cool {}.",
    "a photo of a small {}.",
    "a tattoo of the {}.",
)

#: the 7 templates the notebook selected from the 80
SELECTED_TEMPLATES: tuple[str, ...] = (
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
)

SIMPLE_TEMPLATES: tuple[str, ...] = ("a photo of a {}.",)
#: the label as it is
NO_TEMPLATES: tuple[str, ...] = ("{}",)

TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "none": NO_TEMPLATES,
    "simple": SIMPLE_TEMPLATES,
    "selected": SELECTED_TEMPLATES,
    "imagenet": IMAGENET_TEMPLATES,
}


def read_template_file(path: Path) -> tuple[str, ...]:
    """One template per line, each with one ``{}`` where the label goes; blank lines and ``#`` lines skipped."""
    lines = read_text(path, "templates file").splitlines()
    templates = tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if not templates:
        raise ConfigError(f"templates file '{path}' has no templates (one per line, with {{}} for the label)")
    for number, template in enumerate(templates, 1):
        if template.count("{}") != 1:
            raise ConfigError(f"templates file '{path}': template {number} '{template}' needs exactly one {{}}")
    return templates


def resolve_templates(choice: str | Path | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """A named set (none, simple, selected, imagenet), a file of templates, or a list of templates."""
    if isinstance(choice, (tuple, list)):
        templates = tuple(choice)
        if not templates or any(t.count("{}") != 1 for t in templates):
            raise ConfigError("every template needs exactly one {} where the label goes")
        return templates
    if isinstance(choice, str) and choice in TEMPLATE_SETS:
        return TEMPLATE_SETS[choice]
    path = Path(choice).expanduser()
    if path.is_file():
        return read_template_file(path)
    raise ConfigError(
        f"templates '{choice}' is neither a set ({', '.join(TEMPLATE_SETS)}) nor a file of templates"
    )


def fill(template: str, label: str) -> str:
    """``fill("a photo of a {}.", "cat")`` → ``"a photo of a cat."`` (braces in the label stay as they are)."""
    return template.replace("{}", label, 1)
