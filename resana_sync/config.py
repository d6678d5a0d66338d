"""Settings: one TOML file, then environment variables, then command-line flags
(flag > environment > file). Every problem is collected and reported at once.

Secrets (password, token) never come from the TOML file: from the environment, or
from a file readable by its owner only.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import stat
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError
from .space import Space

ENV_PREFIX = "RESANA_SYNC_"


class Secret:
    """A credential that never shows in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class RemoteSettings:
    kind: str                       # "webdav" or "local"
    url: str | None = None
    path: Path | None = None
    username: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    ca_bundle: Path | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 3


@dataclass(frozen=True)
class Settings:
    remote: RemoteSettings
    space: Space = field(default_factory=Space)
    partners: tuple[str, ...] = ()      # empty: every folder under the inbox root
    state_dir: Path = Path(".")
    keep_archives: int = 30
    accept_feature_loss: bool = False
    max_file_bytes: int = 20 * 1024 * 1024
    push_attempts: int = 3
    schema_path: Path | None = None
    timezone: str = "Europe/Paris"
    nightly: str = "03:30"
    meetings: tuple[str, ...] = ()


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Settings) if f.default is not dataclasses.MISSING}

# The keys a config file may hold, by table: anything else is a typo worth reporting.
KNOWN_KEYS: dict[str, set[str]] = {
    "remote": {"type", "url", "path", "username", "password_file", "token_file", "ca_bundle",
               "connect_timeout", "read_timeout", "retries"},
    "space": {"depots", "retours", "workbook", "archives", "keep_archives", "modeles", "modele"},
    "partners": {"folders"},
    "workbook": {"accept_feature_loss", "push_attempts"},
    "intake": {"max_file_mb", "schema"},
    "state": {"dir"},
    "schedule": {"timezone", "nightly", "meetings"},
}
SECRET_KEYS = {"password", "token", "pass", "mot_de_passe"}


def default_state_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "resana-sync"


def load_settings(
    config_path: Path | None = None,
    *,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build settings from file < environment < flags. ``flags`` keys mirror the file
    ("remote.url", "remote.type", "remote.path", "state.dir", ...); None values are ignored."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    config_path = config_path or _env_path(environ, "CONFIG")
    file_values = _read_file(config_path, problems) if config_path else {}
    values = _merge_layers(file_values, _from_environment(environ), dict(flags or {}))
    base = config_path.parent if config_path else Path.cwd()
    settings = _build(values, base, environ, problems)
    if problems:
        raise ConfigError(problems)
    assert settings is not None
    return settings


def _env_path(environ: Mapping[str, str], name: str) -> Path | None:
    value = environ.get(ENV_PREFIX + name)
    return Path(value) if value else None


def _read_file(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        problems.append(f"fichier de configuration introuvable : {path}")
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"fichier de configuration illisible ({path}) : {exc}")
        return {}
    flat: dict[str, Any] = {}
    for table, content in raw.items():
        if table not in KNOWN_KEYS or not isinstance(content, dict):
            problems.append(f"{path.name} : section inconnue [{table}]")
            continue
        for key, value in content.items():
            if key in SECRET_KEYS:
                problems.append(
                    f"{path.name} : [{table}] {key} — ne mettez jamais de secret dans ce fichier ; "
                    f"utilisez la variable {ENV_PREFIX}PASSWORD (ou TOKEN) ou {key}_file"
                )
            elif key not in KNOWN_KEYS[table]:
                problems.append(f"{path.name} : clé inconnue [{table}] {key}")
            else:
                flat[f"{table}.{key}"] = value
    return flat


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    mapping = {
        "URL": "remote.url",
        "LOCAL": "remote.path",
        "USER": "remote.username",
        "PASSWORD_FILE": "remote.password_file",
        "TOKEN_FILE": "remote.token_file",
        "CA_BUNDLE": "remote.ca_bundle",
        "STATE_DIR": "state.dir",
    }
    values = {key: environ[ENV_PREFIX + name] for name, key in mapping.items() if environ.get(ENV_PREFIX + name)}
    if "remote.url" in values and "remote.path" not in values:
        values["remote.type"] = "webdav"
    elif "remote.path" in values and "remote.url" not in values:
        values["remote.type"] = "local"
    return values


def _merge_layers(*layers: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update({k: v for k, v in layer.items() if v is not None})
    return merged


def _build(values: dict[str, Any], base: Path, environ: Mapping[str, str], problems: list[str]) -> Settings | None:
    remote = _build_remote(values, base, environ, problems)
    # Defaults come from the dataclasses: one place says what an unset key means.
    layout, defaults = Space(), _DEFAULTS
    space = Space(
        inbox_root=_text(values, "space.depots", layout.inbox_root, problems),
        returns_folder=_text(values, "space.retours", layout.returns_folder, problems),
        workbook=_text(values, "space.workbook", layout.workbook, problems),
        archives=_text(values, "space.archives", layout.archives, problems),
        templates=_text(values, "space.modeles", layout.templates, problems),
        template_name=_text(values, "space.modele", layout.template_name, problems),
    )
    if not space.workbook.lower().endswith(".xlsx"):
        problems.append("[space] workbook : le tableau partagé doit être un fichier .xlsx")
    partners = values.get("partners.folders", [])
    if not isinstance(partners, list) or not all(isinstance(p, str) and p.strip() for p in partners):
        problems.append("[partners] folders : une liste de noms de dossiers est attendue")
        partners = []
    state_dir = Path(values["state.dir"]).expanduser() if values.get("state.dir") else default_state_dir(environ)
    schema = values.get("intake.schema")
    mib = 1024 * 1024
    settings = Settings(
        remote=remote,
        space=space,
        partners=tuple(unicodedata.normalize("NFC", p.strip()) for p in partners),
        state_dir=_resolve(state_dir, base),
        keep_archives=_integer(values, "space.keep_archives", defaults["keep_archives"], 1, problems),
        accept_feature_loss=_boolean(values, "workbook.accept_feature_loss", defaults["accept_feature_loss"], problems),
        max_file_bytes=_integer(values, "intake.max_file_mb", defaults["max_file_bytes"] // mib, 1, problems) * mib,
        push_attempts=_integer(values, "workbook.push_attempts", defaults["push_attempts"], 1, problems),
        schema_path=_resolve(Path(schema), base) if schema else None,
        timezone=_text(values, "schedule.timezone", defaults["timezone"], problems),
        nightly=_text(values, "schedule.nightly", defaults["nightly"], problems),
        meetings=tuple(values.get("schedule.meetings", [])),
    )
    _check_schedule(settings, problems)
    return settings


def _check_schedule(settings: Settings, problems: list[str]) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    import datetime as dt

    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"[schedule] timezone : fuseau horaire inconnu « {settings.timezone} »")
    try:
        at = dt.time.fromisoformat(settings.nightly)
        if at.hour == 2:
            problems.append("[schedule] nightly : évitez 02:00-02:59, heure sautée ou doublée aux changements d'heure")
    except ValueError:
        problems.append(f"[schedule] nightly : heure HH:MM attendue, pas « {settings.nightly} »")
    for meeting in settings.meetings:
        try:
            dt.date.fromisoformat(str(meeting))
        except ValueError:
            problems.append(f"[schedule] meetings : date AAAA-MM-JJ attendue, pas « {meeting} »")


def _build_remote(values: dict[str, Any], base: Path, environ: Mapping[str, str], problems: list[str]) -> RemoteSettings:
    kind = values.get("remote.type")
    if kind is None:
        problems.append(
            "aucun espace RESANA indiqué : donnez --webdav URL ou --local DOSSIER, "
            "ou la section [remote] d'un fichier de configuration (--config)"
        )
        return RemoteSettings(kind="local")
    elif kind not in ("webdav", "local"):
        problems.append(f"[remote] type : « {kind} » inconnu (attendu : webdav ou local)")
    url = values.get("remote.url")
    path = values.get("remote.path")
    if kind == "webdav":
        if not url:
            problems.append("[remote] url : l'adresse WebDAV de l'espace est obligatoire")
        elif not str(url).startswith(("https://", "http://")):
            problems.append("[remote] url : une adresse https:// est attendue")
        elif urlsplit(str(url)).username or urlsplit(str(url)).password:
            problems.append(
                "[remote] url : ne mettez pas d'identifiants dans l'adresse ; utilisez "
                f"{ENV_PREFIX}USER et {ENV_PREFIX}PASSWORD"
            )
            url = None
        elif str(url).startswith("http://") and not _is_loopback(str(url)):
            problems.append("[remote] url : refus d'envoyer des identifiants en clair (http://) ; utilisez https://")
    if kind == "local":
        if not path:
            problems.append("[remote] path : le dossier local synchronisé est obligatoire")
        elif not _resolve(Path(path).expanduser(), base).is_dir():
            problems.append(f"[remote] path : le dossier {path} n'existe pas")
    password = _secret(environ, "PASSWORD", values.get("remote.password_file"), base, problems)
    token = _secret(environ, "TOKEN", values.get("remote.token_file"), base, problems)
    if kind == "webdav" and token is None and not (values.get("remote.username") and password):
        problems.append(
            f"identifiants WebDAV manquants : définissez {ENV_PREFIX}USER et {ENV_PREFIX}PASSWORD "
            f"(ou {ENV_PREFIX}TOKEN), ou username et password_file dans [remote]"
        )
    ca_bundle = values.get("remote.ca_bundle")
    if ca_bundle and not _resolve(Path(ca_bundle), base).is_file():
        problems.append(f"[remote] ca_bundle : fichier introuvable {ca_bundle}")
    return RemoteSettings(
        kind=kind,
        url=str(url).rstrip("/") if url else None,
        path=_resolve(Path(path).expanduser(), base) if path else None,
        username=values.get("remote.username"),
        password=password,
        token=token,
        ca_bundle=_resolve(Path(ca_bundle), base) if ca_bundle else None,
        connect_timeout=float(_number(values, "remote.connect_timeout", 10, problems)),
        read_timeout=float(_number(values, "remote.read_timeout", 60, problems)),
        retries=_integer(values, "remote.retries", 3, 0, problems),
    )


def _secret(environ: Mapping[str, str], name: str, file_value: str | None, base: Path, problems: list[str]) -> Secret | None:
    if environ.get(ENV_PREFIX + name):
        return Secret(environ[ENV_PREFIX + name])
    if not file_value:
        return None
    path = _resolve(Path(file_value).expanduser(), base)
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            problems.append(
                f"{path} : ce fichier secret est lisible par d'autres utilisateurs ; "
                f"faites « chmod 600 {path} »"
            )
            return None
        return Secret(path.read_text(encoding="utf-8").strip())
    except OSError:
        problems.append(f"fichier secret illisible : {path}")
        return None


def _resolve(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else (base / path).resolve()


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _text(values: dict[str, Any], key: str, default: str, problems: list[str]) -> str:
    value = values.get(key, default)
    if not isinstance(value, str) or not value.strip() or "/" in value.strip("/") and key != "schedule.timezone":
        problems.append(f"[{key.replace('.', '] ')} : un nom simple est attendu")
        return default
    return value.strip()


def _number(values: dict[str, Any], key: str, default: float, problems: list[str]) -> float:
    value = values.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        problems.append(f"[{key.replace('.', '] ')} : un nombre positif est attendu")
        return default
    return value


def _integer(values: dict[str, Any], key: str, default: int, minimum: int, problems: list[str]) -> int:
    value = values.get(key, default)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.append(f"[{key.replace('.', '] ')} : un entier ≥ {minimum} est attendu")
        return default
    return value


def _boolean(values: dict[str, Any], key: str, default: bool, problems: list[str]) -> bool:
    value = values.get(key, default)
    if not isinstance(value, bool):
        problems.append(f"[{key.replace('.', '] ')} : true ou false est attendu")
        return default
    return value
