"""What a request may do: the token, the folders it may name files in, and the uploads it may send.

Requests come from a browser or a script, not from the user's own command line, so (see
``pixforge.trust``) they never grant trust to unpickle a checkpoint, and every file name in them must lie
inside the runs folder or the input folder the server was started with (symlinks followed).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixforge.config import parse_override
from pixforge.errors import ConfigError
from pixforge.files import printable
from pixforge.trust import TRUST_FLAG, TRUST_KEYS

#: hosts that only this machine can reach; any other needs --token
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: the largest upload accepted, in bytes
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
#: the largest uploaded image accepted, in pixels (checked from the header before decoding)
MAX_UPLOAD_PIXELS = 16 * 1024 * 1024
#: image formats an upload may be in
UPLOAD_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP"})
#: request keys whose text is never a file name
FREE_TEXT_KEYS = frozenset({"prompt"})


class RequestError(ConfigError):
    """A request that cannot be served as asked (the API answers 4xx with its message)."""

    status = 400


class Forbidden(RequestError):
    status = 403


class NotFound(RequestError):
    status = 404


class TooLarge(RequestError):
    status = 413


def needs_token(host: str, token: str | None) -> str | None:
    """Why the server must not start on ``host`` without a token, or None when it may."""
    if host in LOCAL_HOSTS or token:
        return None
    return f"--host {host} can be reached from other machines: give --token T (requests then need it)"


def token_matches(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer T`` header."""
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


@dataclass(frozen=True)
class Roots:
    """The folders requests may name files in: the runs folder and the optional input folder."""

    runs: Path
    inputs: Path | None = None

    @property
    def base(self) -> Path:
        """Where relative names in requests point (workers run in it): the input folder, else the runs folder."""
        return self.inputs or self.runs

    @property
    def allowed(self) -> list[Path]:
        return [self.runs] + ([self.inputs] if self.inputs else [])

    def describe(self) -> str:
        shown = f"the runs folder '{printable(self.runs)}'"
        return shown + (f" or the input folder '{printable(self.inputs)}'" if self.inputs else "")

    def inside(self, path: Path) -> bool:
        resolved = path.resolve()
        return any(resolved == root or resolved.is_relative_to(root) for root in self.allowed)

    def confine(self, name: str, what: str) -> Path:
        """The file ``name`` names (relative names from ``base``), if it lies inside the allowed folders."""
        if "\x00" in name:
            raise Forbidden(f"{what} '{printable(name)}': a file name cannot hold a NUL character")
        path = self.base / Path(name).expanduser()
        if not self.inside(path):
            raise Forbidden(
                f"{what} '{printable(name)}' lies outside {self.describe()}; requests may name files only there"
            )
        return path.resolve()


def _looks_like_path(piece: str, base: Path) -> bool:
    if any(mark in piece for mark in ("/", "\\")) or piece.startswith(("~", ".")):
        return True
    try:
        return os.path.lexists(base / piece)
    except (OSError, ValueError):
        return True


def pieces_of(value: str) -> set[str]:
    """``value`` whole, each ``|``-separated part, its pieces around colons and before an ``=`` (stripped, as
    prompt parsing strips them): every string a component could take for a file name."""
    found: set[str] = set()
    for part in [value, *value.split("|")]:
        candidates = [part, *part.split(":"), part.split("=", 1)[0]]  # a region prompt is MASK=TEXT
        if ":" in part:
            candidates.append(part.split(":", 1)[1])
        found.update(c for c in candidates if c)
        found.update(c.strip() for c in candidates if c.strip())
    return found


def check_value(roots: Roots, value: Any, where: str) -> None:
    """Refuse trust keys anywhere in ``value`` and file names outside the allowed folders.

    A string is checked whole and piece by piece (``pieces_of``), so the file names inside ``a.png|b.png``
    (image prompts), ``pic.png:0.5`` (a weight) and ``local-dir:/elsewhere`` (an open_clip prefix) are seen.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            check_key(str(key), where)
            if str(key) not in FREE_TEXT_KEYS:
                check_value(roots, item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for number, item in enumerate(value):
            check_value(roots, item, f"{where}.{number}")
    elif isinstance(value, str):
        for piece in sorted(pieces_of(value)):
            if _looks_like_path(piece, roots.base):
                roots.confine(piece, where)


def check_key(key: str, where: str) -> None:
    if any(part.strip() in TRUST_KEYS for part in key.split(".")):
        raise Forbidden(
            f"{where}: '{key}' cannot come with a request; trust to unpickle a checkpoint is given only on the "
            f"command line ({TRUST_FLAG})"
        )


def check_override(roots: Roots, text: str) -> None:
    """One ``dotted.path=value`` override from a request: no trust key, no file outside the allowed folders."""
    path, value = parse_override(text)
    check_key(".".join(path), f"override '{printable(text)}'")
    if path[-1] in FREE_TEXT_KEYS and len(path) == 1:
        return
    check_value(roots, value, f"override '{'.'.join(path)}'")


def store_upload(data: bytes, folder: Path) -> Path:
    """Check an uploaded image (size, format, pixels from the header, a full decode) and keep it as a PNG
    named by its content; returns where it lies. Anything else is a RequestError naming the problem."""
    from PIL import Image

    if len(data) > MAX_UPLOAD_BYTES:
        raise TooLarge(f"upload of {len(data):,} bytes is over the limit of {MAX_UPLOAD_BYTES:,}")
    if not data:
        raise RequestError("the upload is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as opened:
                if opened.format not in UPLOAD_FORMATS:
                    raise RequestError(
                        f"upload is a {opened.format} image; give one of {', '.join(sorted(UPLOAD_FORMATS))}"
                    )
                width, height = opened.size
                if width * height > MAX_UPLOAD_PIXELS:
                    raise TooLarge(
                        f"upload is {width}x{height} = {width * height:,} pixels, over the limit of {MAX_UPLOAD_PIXELS:,}"
                    )
                opened.load()
                image = opened.convert("RGB")
        except RequestError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise TooLarge(f"upload has more than {MAX_UPLOAD_PIXELS:,} pixels, the limit") from None
        except Exception as exc:  # noqa: BLE001  any decoder failure is the upload's problem
            raise RequestError(f"upload cannot be read as an image ({type(exc).__name__})") from None
    from pixforge.outputs import png_bytes, atomic_write_bytes

    encoded = png_bytes(image)
    path = folder / f"{hashlib.sha256(encoded).hexdigest()[:20]}.png"
    if not path.exists():
        atomic_write_bytes(path, encoded)
    return path
