"""Pixray's and VQGAN-CLIP's ``generate.py`` flags, read for ``pixforge render``.

A flag that means what a pixforge option means becomes the pixforge spelling (``--iterations 200`` is
``--steps 200``); one that has no like in pixforge is refused in one line that gives the pixforge way.
``-s`` stays pixforge's ``--set``: only ``-s W H`` (two numbers, which no ``--set`` can be) is read as
VQGAN-CLIP's size. The README's table lists the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import ConfigError

QUALITIES = ("draft", "normal", "better")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")


@dataclass(frozen=True)
class PeerFlag:
    """One flag of a peer: how it is spelled there, and what pixforge reads it as (or why not)."""

    names: tuple[str, ...]
    #: "Pixray", "VQGAN-CLIP" or "Pixray, VQGAN-CLIP"
    peer: str
    #: the pixforge spelling, as the README shows it
    pixforge: str
    #: how many values follow the flag
    nargs: int
    #: values → pixforge arguments; raises ConfigError for a value pixforge has no like for
    read: Callable[[list[str]], list[str]]


def _refuse(message: str) -> Callable[[list[str]], list[str]]:
    def read(values: list[str]) -> list[str]:
        raise ConfigError(message)

    return read


def _quality(values: list[str]) -> list[str]:
    if values[0] in QUALITIES:
        return ["--preset", values[0]]
    raise ConfigError(
        f"--quality {values[0]}: pixforge's quality ladder is --preset draft, normal or better "
        "(pixforge presets list shows every preset)"
    )


def _output(values: list[str], flag: str = "--output") -> list[str]:
    raise ConfigError(f"{flag} {values[0]}: pixforge writes a run folder, --out DIR (the picture is DIR/final.png)")


PEER_FLAGS: tuple[PeerFlag, ...] = (
    PeerFlag(("--quality",), "Pixray", "--preset draft|normal|better", 1, _quality),
    PeerFlag(("--iterations", "-i"), "Pixray, VQGAN-CLIP", "--steps N", 1, lambda v: ["--steps", v[0]]),
    PeerFlag(("--drawer",), "Pixray", "--generator NAME", 1, lambda v: ["--generator", v[0]]),
    PeerFlag(("--init_image", "-ii"), "Pixray, VQGAN-CLIP", "--init-image PATH", 1, lambda v: ["--init-image", v[0]]),
    PeerFlag(("--prompts",), "Pixray, VQGAN-CLIP", "PROMPT (the first argument)", 1, lambda v: [v[0]]),
    PeerFlag(("-cuts", "--num_cuts"), "VQGAN-CLIP, Pixray", "--set cutouts.count=N", 1,
             lambda v: ["--set", f"cutouts.count={v[0]}"]),
    PeerFlag(("-sd",), "VQGAN-CLIP", "--seed N", 1, lambda v: ["--seed", v[0]]),
    PeerFlag(("-lr", "--learning_rate"), "VQGAN-CLIP, Pixray", "--set optimizer.lr=X", 1,
             lambda v: ["--set", f"optimizer.lr={v[0]}"]),
    PeerFlag(("-se", "--save_every"), "VQGAN-CLIP, Pixray", "--set save_every=N", 1,
             lambda v: ["--set", f"save_every={v[0]}"]),
    PeerFlag(("-vid",), "VQGAN-CLIP", "--video", 0, lambda v: ["--video"]),
    PeerFlag(("--aspect",), "Pixray", "--size WxH", 1, _refuse(
        "--aspect: pixforge has no aspect setting; give the canvas itself, e.g. --size 224x128 (wide), "
        "--size 128 (square) or --size 128x224 (tall)")),
    PeerFlag(("--output",), "Pixray, VQGAN-CLIP", "--out DIR", 1, _output),
)
BY_NAME = {name: peer for peer in PEER_FLAGS for name in peer.names}


def _is_int(text: str) -> bool:
    return text.isdigit()


def translate(args: list[str], takes_value: set[str]) -> list[str]:
    """``pixforge render``'s arguments with every peer flag read as pixforge's (or a ConfigError).

    ``takes_value``: render's own options that take a value; what follows one is its value, never a flag.
    """
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return out + args[i:]
        if arg in ("-s", "--size") and i + 2 < len(args) and _is_int(args[i + 1]) and _is_int(args[i + 2]):
            out += ["--size", f"{args[i + 1]}x{args[i + 2]}"]  # VQGAN-CLIP's -s W H, Pixray's --size W H
            i += 3
            continue
        if arg in ("-o", "--out") and i + 1 < len(args) and args[i + 1].lower().endswith(IMAGE_SUFFIXES):
            _output([args[i + 1]], arg)
        name, eq, inline = arg.partition("=")
        inline_value = bool(eq) and name.startswith("--")  # --drawer=pixel
        peer = BY_NAME.get(name if inline_value else arg)
        if peer is not None:
            values = [inline] if inline_value else args[i + 1 : i + 1 + peer.nargs]
            if len(values) < peer.nargs:
                raise ConfigError(f"{arg} needs a value (in pixforge: {peer.pixforge})")
            out += peer.read(values)
            i += 1 if inline_value else 1 + peer.nargs
            continue
        out.append(arg)
        if arg in takes_value and i + 1 < len(args):
            out.append(args[i + 1])
            i += 1
        i += 1
    return out
