import pytest
from django.core.exceptions import ImproperlyConfigured

from alertum.env import env_bool, env_int, env_list


def test_malformed_environment_values_fail_fast_naming_the_variable(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        env_bool("DEBUG")
    monkeypatch.setenv("DB_POOL_MAX", "lots")
    with pytest.raises(ImproperlyConfigured, match="DB_POOL_MAX"):
        env_int("DB_POOL_MAX", 20)


def test_well_formed_values_parse(monkeypatch):
    monkeypatch.setenv("DEBUG", "Yes")
    monkeypatch.setenv("ALLOWED_HOSTS", "a.example, b.example,")
    assert env_bool("DEBUG") is True
    assert env_list("ALLOWED_HOSTS", []) == ["a.example", "b.example"]
    assert env_int("UNSET_FOR_TEST", 7) == 7


def test_production_refuses_to_start_without_secret_key(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "PYTEST_VERSION", "ALERTUM_TESTING",
                                                             "ALERTUM_EMBEDDED", "DEBUG")}
    env["ALERTUM_VAR_DIR"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-c", "import django, os; os.environ['DJANGO_SETTINGS_MODULE']="
                             "'alertum.settings'; django.setup()"], env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr
