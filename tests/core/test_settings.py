"""Settings: development generates local secrets once; production refuses to start without them."""

import stat

import pytest

from carebase import settings as settings_module
from carebase.settings import MissingSecrets, Settings, _fill_secrets


def test_production_refuses_and_names_missing_secrets(monkeypatch):
    for name in ("CAREBASE_SECRET_KEY", "CAREBASE_DATABASE_APP_PASSWORD", "CAREBASE_AUTH__JWT_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(MissingSecrets) as info:
        _fill_secrets(Settings(env="production"))
    message = str(info.value)
    for name in ("CAREBASE_SECRET_KEY", "CAREBASE_DATABASE_APP_PASSWORD", "CAREBASE_AUTH__JWT_PRIVATE_KEY"):
        assert name in message


def test_development_generates_secrets_once_with_private_permissions(monkeypatch, tmp_path):
    for name in ("CAREBASE_SECRET_KEY", "CAREBASE_DATABASE_APP_PASSWORD", "CAREBASE_AUTH__JWT_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(settings_module, "VAR_DIR", tmp_path)
    first = _fill_secrets(Settings(env="development"))
    second = _fill_secrets(Settings(env="development"))
    path = tmp_path / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.secret_key is not None and second.secret_key is not None
    assert first.secret_key.get_secret_value() == second.secret_key.get_secret_value()
    assert first.auth.jwt_private_key is not None
    assert "PRIVATE KEY" in first.auth.jwt_private_key.get_secret_value()


def test_secrets_are_not_shown_in_repr():
    s = Settings(env="test", secret_key="super-secret-value")
    assert "super-secret-value" not in repr(s)
