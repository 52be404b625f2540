"""The table of component kinds: every row has its base class, hook spec, preset field and contract test."""

from __future__ import annotations

import pytest

import pixforge
from pixforge import hookspecs
from pixforge.config import ComponentSpec, RenderConfig
from pixforge.kinds import KINDS, ComponentKind
from pixforge.testing import CONTRACTS, ComponentContract


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_each_kind_has_everything_its_row_names(kind: ComponentKind) -> None:
    assert getattr(pixforge, kind.base.__name__) is kind.base
    spec = getattr(hookspecs, kind.hook)
    assert spec.__doc__ and kind.base.__name__ in spec.__doc__
    assert kind.field in RenderConfig.model_fields
    assert issubclass(CONTRACTS[kind.name], ComponentContract)


def test_kind_names_and_fields_are_distinct() -> None:
    assert len({k.name for k in KINDS}) == len({k.field for k in KINDS}) == len({k.hook for k in KINDS}) == len(KINDS)


def test_specs_reads_one_or_many() -> None:
    config = RenderConfig(generator={"name": "g"}, losses=[{"name": "a"}, {"name": "b"}])
    by_name = {kind.name: kind for kind in KINDS}
    assert [s.name for s in by_name["generator"].specs(config)] == ["g"]
    assert [s.name for s in by_name["loss"].specs(config)] == ["a", "b"]
    assert by_name["observer"].specs(config) == []
    assert all(isinstance(s, ComponentSpec) for s in by_name["loss"].specs(config))
