"""Strict settings models: every component declares its settings as one of these."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError, suggest

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """A settings model that refuses unknown keys, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _describe(error: dict[str, Any], model: type[BaseModel], where: str) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        key = str(error["loc"][-1])
        fields = _fields_at(model, error["loc"][:-1])
        return f"{where}: unknown key '{loc}'; {suggest(key, fields)}"
    if error["type"] == "missing":
        return f"{where}: missing required key '{loc}'"
    value = error.get("input")
    return f"{where}: bad value {value!r} for '{loc}': {error['msg']}"


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Valid field names of the (possibly nested) model at ``loc``."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = _model_in(field.annotation)
    return list(getattr(current, "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    """The BaseModel class inside an annotation such as ``list[X]`` or ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def validate(model: type[M], data: Any, where: str | Callable[[tuple[Any, ...]], str]) -> M:
    """Validate ``data`` against ``model``; a failure becomes a one-line ConfigError naming ``where`` (or
    ``where(loc)``, from the failing location: the ``--set`` that wrote it, say)."""
    label = where if callable(where) else (lambda loc: where)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{label(())}: expected a mapping of settings, got {type(data).__name__} {data!r}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigError(_describe(error, model, label(tuple(error["loc"])))) from None
