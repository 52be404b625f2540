"""What every contract test class shares: a strict Settings model, a one-line description, named unknown keys.

This module imports pytest, so it is for test code only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from ..errors import ConfigError
from ..settings import StrictModel, validate


#: a settings key no component has, for the strictness check
UNKNOWN_KEY = "no_such_setting_xyz"


# -- contracts -----------------------------------------------------------------------------------------


class ComponentContract:
    """Checks every component kind shares: a strict Settings model and a one-line description.

    Subclasses set ``component`` (the class) and optionally ``settings`` (a dict). The checks read them
    through the fixtures ``contract_component`` and ``contract_settings``, so a test module may also
    parametrize those two names to run one contract over many components.
    """

    component: ClassVar[type]
    settings: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def contract_component(self) -> type:
        cls = getattr(self, "component", None)
        if cls is None:
            pytest.fail(f"{type(self).__name__}: set the class attribute 'component' to the class under test")
        return cls

    @pytest.fixture
    def contract_settings(self) -> dict[str, Any]:
        return dict(self.settings)

    # every check takes both fixtures, so a class-level parametrize over the pair applies to all of them

    def test_settings_model_is_strict(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        assert issubclass(contract_component.Settings, StrictModel)

    def test_description_is_one_line(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        text = contract_component.description
        assert isinstance(text, str) and text.strip(), "set the one-line ClassVar 'description'"
        assert "\n" not in text.strip()

    def test_settings_validate(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        validate(contract_component.Settings, contract_settings, "settings")

    def test_unknown_setting_is_named(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        with pytest.raises(ConfigError, match=UNKNOWN_KEY):
            validate(contract_component.Settings, {**contract_settings, UNKNOWN_KEY: 1}, "settings")
