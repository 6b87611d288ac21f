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


def _database_settings(env_extra: dict) -> dict:
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DB_PERSISTENT_CONNECTIONS",)}
    env.update({"DATABASE_URL": "postgres://alertum@127.0.0.1:5432/alertum", **env_extra})
    code = ("import json, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'alertum.settings'; "
            "from django.conf import settings; d = settings.DATABASES['default']; "
            "print(json.dumps({'age': d['CONN_MAX_AGE'], 'pool': 'pool' in d['OPTIONS']}))")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_postgresql_is_pooled_unless_the_process_keeps_one_connection():
    assert _database_settings({}) == {"age": 0, "pool": True}
    assert _database_settings({"DB_PERSISTENT_CONNECTIONS": "1"}) == {"age": None, "pool": False}


def test_gunicorn_sync_workers_keep_one_connection_each_and_threaded_ones_pool(monkeypatch):
    import os
    import runpy

    from django.conf import settings

    conf = str(settings.BASE_DIR / "deploy" / "gunicorn.conf.py")
    monkeypatch.delenv("DB_PERSISTENT_CONNECTIONS", raising=False)
    monkeypatch.delenv("GUNICORN_THREADS", raising=False)
    assert runpy.run_path(conf)["worker_class"] == "sync"
    assert os.environ["DB_PERSISTENT_CONNECTIONS"] == "1"
    monkeypatch.delenv("DB_PERSISTENT_CONNECTIONS")
    monkeypatch.setenv("GUNICORN_THREADS", "4")
    assert runpy.run_path(conf)["worker_class"] == "gthread"
    assert "DB_PERSISTENT_CONNECTIONS" not in os.environ
