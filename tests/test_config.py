"""Settings: one TOML file, environment, flags; every problem listed at once; no secret in files."""

from __future__ import annotations

from pathlib import Path

import pytest

from resana_sync.config import Secret, load_settings
from resana_sync.errors import ConfigError

CREDENTIALS = {"RESANA_SYNC_USER": "coord", "RESANA_SYNC_PASSWORD": "pw"}
EXAMPLE = Path(__file__).parent.parent / "config" / "resana-sync.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "resana-sync.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_valid_once_its_password_file_exists(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    text = EXAMPLE.read_text(encoding="utf-8").replace("/etc/resana-sync/password", str(secret))
    settings = load_settings(write(tmp_path, text), environ={})
    assert settings.remote.kind == "webdav"
    assert settings.remote.password.reveal() == "s3cret"
    assert settings.space.workbook == "Tableau de suivi partagé.xlsx"
    assert settings.keep_archives == 30


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, """
[remote]
type = "webdav"
url = "ftp://example"
retries = -1
colour = "blue"
[space]
keep_archives = 0
[mystery]
x = 1
""")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    problems = err.value.problems
    assert any("https:// est attendue" in p for p in problems)
    assert any("retries" in p for p in problems)
    assert any("colour" in p for p in problems)
    assert any("keep_archives" in p for p in problems)
    assert any("[mystery]" in p for p in problems)
    assert any("identifiants WebDAV manquants" in p for p in problems)
    assert len(problems) == 6


def test_a_password_in_the_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = write(tmp_path, '[remote]\ntype = "webdav"\nurl = "https://h/dav"\npassword = "hunter2"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert "hunter2" not in str(err.value)
    assert "RESANA_SYNC_PASSWORD" in str(err.value)


def test_a_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret")
    secret.chmod(0o644)
    path = write(tmp_path, f'[remote]\ntype = "webdav"\nurl = "https://h/dav"\npassword_file = "{secret}"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert "chmod 600" in str(err.value)
    assert "s3cret" not in str(err.value)


def test_flag_beats_environment_beats_file(tmp_path: Path) -> None:
    one, two, three = (tmp_path / n for n in ("one", "two", "three"))
    for folder in (one, two, three):
        folder.mkdir()
    path = write(tmp_path, f'[remote]\ntype = "local"\npath = "{one}"\n[state]\ndir = "{tmp_path / "s1"}"\n')
    env = {"RESANA_SYNC_LOCAL": str(two), "RESANA_SYNC_STATE_DIR": str(tmp_path / "s2")}
    assert load_settings(path, environ={}).remote.path == one
    assert load_settings(path, environ=env).remote.path == two
    assert load_settings(path, environ=env).state_dir == tmp_path / "s2"
    assert load_settings(path, environ=env, flags={"remote.path": str(three)}).remote.path == three


def test_credentials_come_from_the_environment_and_never_show(tmp_path: Path) -> None:
    env = {"RESANA_SYNC_URL": "https://h/dav", "RESANA_SYNC_USER": "coord", "RESANA_SYNC_PASSWORD": "hunter2"}
    settings = load_settings(environ=env)
    assert settings.remote.kind == "webdav"
    assert settings.remote.password.reveal() == "hunter2"
    assert "hunter2" not in repr(settings)
    assert repr(Secret("x")) == "Secret('***')"


def test_plain_http_is_refused_except_on_loopback() -> None:
    with pytest.raises(ConfigError, match="https"):
        load_settings(environ={"RESANA_SYNC_URL": "http://resana.example/dav"})
    assert load_settings(environ={"RESANA_SYNC_URL": "http://127.0.0.1:8080/", **CREDENTIALS}).remote.url == \
        "http://127.0.0.1:8080"


def test_no_remote_at_all_says_how_to_give_one() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ={})
    assert err.value.problems == [
        "aucun espace RESANA indiqué : donnez --webdav URL ou --local DOSSIER, "
        "ou la section [remote] d'un fichier de configuration (--config)"
    ]


def test_state_dir_defaults_to_xdg_state_home(tmp_path: Path) -> None:
    env = {"RESANA_SYNC_LOCAL": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "xdg")}
    assert load_settings(environ=env).state_dir == tmp_path / "xdg" / "resana-sync"


def test_credentials_inside_the_url_are_refused_and_never_echoed() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"RESANA_SYNC_URL": "https://coord:hunter2@resana.example/dav"})
    assert "hunter2" not in str(err.value)
    assert "RESANA_SYNC_PASSWORD" in str(err.value)


@pytest.mark.parametrize("url", ["http://[::1]:8080/", "http://127.0.0.2/", "http://localhost:9/"])
def test_loopback_addresses_may_use_plain_http(url: str) -> None:
    assert load_settings(environ={"RESANA_SYNC_URL": url, **CREDENTIALS}).remote.kind == "webdav"


def test_configured_partner_names_are_compared_in_nfc(tmp_path: Path) -> None:
    path = write(tmp_path, f'[remote]\ntype = "local"\npath = "{tmp_path}"\n[partners]\nfolders = ["Colle\u0300ge"]\n')
    assert load_settings(path, environ={}).partners == ("Collège",)


def test_webdav_without_credentials_is_a_configuration_problem() -> None:
    with pytest.raises(ConfigError, match="identifiants WebDAV manquants"):
        load_settings(environ={"RESANA_SYNC_URL": "https://resana.example/dav", "RESANA_SYNC_USER": "coord"})
    token = load_settings(environ={"RESANA_SYNC_URL": "https://resana.example/dav", "RESANA_SYNC_TOKEN": "t"})
    assert token.remote.token.reveal() == "t"
