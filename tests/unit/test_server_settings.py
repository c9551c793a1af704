"""Memory settings of the local server: checked at start-up, since the JVM takes them as-is."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.settings import load_settings


@pytest.mark.parametrize("variable", ["IG_NEO4J_HEAP", "IG_NEO4J_PAGECACHE"])
@pytest.mark.parametrize("value", ["2GB", "0g", "1.5g", "lots", "-1g", "2 g"])
def test_a_memory_size_the_jvm_would_refuse_stops_start_up_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.removeprefix("IG_").lower()):
        load_settings()


def test_memory_sizes_reach_the_server_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IG_NEO4J_HEAP", "1536m")
    monkeypatch.setenv("IG_NEO4J_PAGECACHE", "2G")
    config = load_settings().server_config()
    assert (config.heap, config.pagecache) == ("1536m", "2g")
