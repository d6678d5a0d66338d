"""The form contract, loaded from a Frictionless Table Schema with 'x-' extensions.

One file (``config/fiche-de-situation.schema.json``) drives the blank form template,
validation and the workbook columns. Loading checks the file's own consistency and
reports every problem at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .text import fold

FIELD_TYPES = {"string", "date", "integer", "boolean", "array"}


@dataclass(frozen=True)
class FieldSpec:
    id: str
    label: str
    type: str
    required: bool = False
    help: str = ""
    variants: tuple[str, ...] = ()
    values: tuple[str, ...] = ()             # allowed values (items, for arrays)
    spellings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    separators: tuple[str, ...] = (";",)
    true_values: tuple[str, ...] = ("Oui",)
    false_values: tuple[str, ...] = ("Non",)
    minimum: int | None = None
    format: str | None = None               # "ine", "contact"
    long_text: bool = False
    age_rule: dict[str, Any] | None = None   # see x-age in the schema file
    flag_when: dict[str, Any] | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.label, *self.variants)


@dataclass(frozen=True)
class WorkbookColumn:
    id: str
    title: str
    source: str | None = None   # form field id it is derived from
    rule: str | None = None     # how derived values combine (see merge)
    values: tuple[str, ...] = ()
    initial: str | None = None
    type: str = "string"


@dataclass(frozen=True)
class FormSchema:
    name: str
    title: str
    fields: tuple[FieldSpec, ...]
    missing_values: tuple[str, ...]
    derived_columns: tuple[WorkbookColumn, ...]
    coordinator_columns: tuple[WorkbookColumn, ...]
    identity_fields: tuple[str, ...]

    def field(self, field_id: str) -> FieldSpec:
        for spec in self.fields:
            if spec.id == field_id:
                return spec
        raise KeyError(field_id)

    def label_index(self) -> dict[str, FieldSpec]:
        """Folded label (and variant) -> field, for matching partners' headers."""
        return {fold(label): spec for spec in self.fields for label in spec.labels}


DEFAULT_SCHEMA_NAME = "fiche-de-situation.schema.json"


def default_schema_path() -> Path:
    return Path(str(resources.files("resana_sync") / "data" / DEFAULT_SCHEMA_NAME))


def load_schema(path: Path | None = None) -> FormSchema:
    path = path or default_schema_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Schéma de fiche illisible ({path}) : {exc}") from exc
    return parse_schema(raw, str(path))


def parse_schema(raw: dict[str, Any], origin: str = "schéma") -> FormSchema:
    problems: list[str] = []
    fields = tuple(_parse_field(f, problems) for f in raw.get("fields", []))
    ids = [f.id for f in fields]
    if not fields:
        problems.append(f"{origin} : aucun champ défini")
    if len(set(ids)) != len(ids):
        problems.append(f"{origin} : identifiants de champ en double")
    seen: dict[str, str] = {}
    for spec in fields:
        for label in spec.labels:
            key = fold(label)
            if key in seen and seen[key] != spec.id:
                problems.append(f"{origin} : l'intitulé « {label} » désigne à la fois {seen[key]} et {spec.id}")
            seen[key] = spec.id
    book = raw.get("x-workbook", {})
    suivi = book.get("suivi", {})
    derived = tuple(_parse_column(c) for c in suivi.get("derived", []))
    coordinator = tuple(_parse_column(c) for c in suivi.get("coordinator", []))
    for col in derived:
        if col.source and col.source not in ids:
            problems.append(f"{origin} : la colonne « {col.title} » dérive d'un champ inconnu {col.source}")
    titles = [c.title for c in (*derived, *coordinator)]
    if len(set(map(fold, titles))) != len(titles):
        problems.append(f"{origin} : deux colonnes de Suivi portent le même titre")
    if not derived or derived[0].id != "situation_id":
        problems.append(f"{origin} : la première colonne de Suivi doit être l'identifiant (situation_id)")
    identity = tuple(book.get("identity", ["nom", "prenom", "date_naissance", "ine"]))
    for fid in identity:
        if fid not in ids:
            problems.append(f"{origin} : champ d'identité inconnu {fid}")
    if problems:
        raise ConfigError(problems)
    return FormSchema(
        name=raw.get("name", "fiche"),
        title=raw.get("title", ""),
        fields=fields,
        missing_values=tuple(raw.get("missingValues", [""])),
        derived_columns=derived,
        coordinator_columns=coordinator,
        identity_fields=identity,
    )


def _parse_field(raw: dict[str, Any], problems: list[str]) -> FieldSpec:
    constraints = raw.get("constraints", {})
    ftype = raw.get("type", "string")
    if ftype not in FIELD_TYPES:
        problems.append(f"champ {raw.get('name')} : type {ftype!r} non pris en charge")
    if not raw.get("name") or not raw.get("title"):
        problems.append(f"un champ n'a pas de « name » ou de « title » : {raw}")
    values = constraints.get("enum") or raw.get("x-item-enum") or []
    spellings = {k: tuple(v) for k, v in raw.get("x-spellings", {}).items()}
    for key in spellings:
        if values and key not in values:
            problems.append(f"champ {raw.get('name')} : orthographe donnée pour une valeur inconnue « {key} »")
    return FieldSpec(
        id=raw.get("name", ""),
        label=raw.get("title", ""),
        type=ftype,
        required=bool(constraints.get("required", False)),
        help=raw.get("description", ""),
        variants=tuple(raw.get("x-variants", [])),
        values=tuple(values),
        spellings=spellings,
        separators=tuple(raw.get("x-separators", [";"])),
        true_values=tuple(raw.get("trueValues", ["Oui"])),
        false_values=tuple(raw.get("falseValues", ["Non"])),
        minimum=constraints.get("minimum"),
        format=raw.get("x-format"),
        long_text=bool(raw.get("x-long-text", False)),
        age_rule=raw.get("x-age"),
        flag_when=raw.get("x-flag-when"),
    )


def _parse_column(raw: dict[str, Any]) -> WorkbookColumn:
    return WorkbookColumn(
        id=raw["id"],
        title=raw["title"],
        source=raw.get("from"),
        rule=raw.get("rule"),
        values=tuple(raw.get("values", [])),
        initial=raw.get("initial"),
        type=raw.get("type", "string"),
    )
