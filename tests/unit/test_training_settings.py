"""Training settings from the environment: text input, ID dropout and the learned prior reach
the model config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.cli import build_parser
from app.settings import Settings, load_settings
from app.training.pipeline import train_config_from
from ml.train import TrainConfig


def test_text_and_id_dropout_settings_reach_the_training_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = train_config_from(load_settings())
    assert default.use_text is True and default.id_dropout == 0.0
    assert default.learn_prior is False
    monkeypatch.setenv("IG_TRAIN_USE_TEXT", "false")
    monkeypatch.setenv("IG_TRAIN_ID_DROPOUT", "0.3")
    monkeypatch.setenv("IG_TRAIN_LEARN_PRIOR", "true")
    config = train_config_from(load_settings())
    assert config.use_text is False and config.id_dropout == 0.3
    assert config.learn_prior is True


@pytest.mark.parametrize("value", ["1.0", "-0.1", "half"])
def test_a_bad_id_dropout_is_refused_at_start_up_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("IG_TRAIN_ID_DROPOUT", value)
    with pytest.raises(ValidationError, match="train_id_dropout"):
        load_settings()


def test_a_bad_learn_prior_value_is_refused_at_start_up_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IG_TRAIN_LEARN_PRIOR", "sometimes")
    with pytest.raises(ValidationError, match="train_learn_prior"):
        load_settings()


def test_the_training_config_defaults_to_the_settings_model_kind() -> None:
    """The settings are the source: a bare ``TrainConfig`` trains what the service would."""
    assert TrainConfig().model == Settings.model_fields["model_kind"].default == "interest"


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_a_bad_number_of_training_processes_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("IG_TRAIN_PROCESSES", value)
    with pytest.raises(ValidationError, match="train_processes"):
        load_settings()


def test_the_processes_flag_overrides_the_setting_within_its_bounds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert load_settings().train_processes == 1  # one process unless asked
    assert build_parser().parse_args(["train", "--processes", "2"]).processes == 2
    assert build_parser().parse_args(["train"]).processes is None  # the setting applies
    for value, problem in (("0", "at least 1"), ("65", "at most 64")):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["train", "--processes", value])
        assert problem in capsys.readouterr().err
