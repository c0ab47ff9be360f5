"""Settings: explicit config beats the environment, which beats the default; bad env values are one error."""

from __future__ import annotations

import pytest

from aieng_nb import config
from aieng_nb.exceptions import ValidationError


def test_defaults_when_nothing_is_set(monkeypatch):
    monkeypatch.delenv("AIENG_FLUSH_INTERVAL", raising=False)
    monkeypatch.delenv("AIENG_PII_POLICY", raising=False)
    assert config.get("flush_interval") == 0.2
    assert config.get("pii_policy") == "warn"
    assert config.get("capture_cells") is True


def test_an_environment_variable_overrides_the_default_and_is_typed(monkeypatch):
    monkeypatch.setenv("AIENG_FLUSH_INTERVAL", "1.5")
    monkeypatch.setenv("AIENG_JOB_EXECUTOR", "process")
    assert config.get("flush_interval") == 1.5
    assert config.get("job_executor") == "process"


def test_explicit_config_beats_the_environment(monkeypatch):
    monkeypatch.setenv("AIENG_FLUSH_INTERVAL", "1.5")
    config.settings().flush_interval = 0.05
    assert config.get("flush_interval") == 0.05


def test_an_empty_environment_variable_is_ignored(monkeypatch):
    monkeypatch.setenv("AIENG_PII_POLICY", "")
    assert config.get("pii_policy") == "warn"


def test_a_bad_environment_value_is_a_validation_error_naming_it(monkeypatch):
    monkeypatch.setenv("AIENG_FLUSH_INTERVAL", "soon")
    with pytest.raises(ValidationError, match="AIENG_FLUSH_INTERVAL='soon' is not a valid flush_interval"):
        config.get("flush_interval")


def test_use_settings_installs_the_shells_instance_and_reset_forgets_it():
    mine = config.Aieng(flush_interval=3.0)
    config.use_settings(mine)
    assert config.settings() is mine and config.get("flush_interval") == 3.0
    config.reset()
    assert config.settings() is not mine and config.get("flush_interval") == 0.2


def test_percent_config_in_a_real_shell_reaches_the_core(shell):
    shell.run_line_magic("config", "Aieng.flush_interval = 0.125")
    assert config.get("flush_interval") == 0.125


def test_every_environment_variable_names_a_real_setting():
    traits = config.Aieng().traits(config=True)
    assert set(config._ENV) <= set(traits)
    assert all(env.startswith("AIENG_") for env in config._ENV.values())
