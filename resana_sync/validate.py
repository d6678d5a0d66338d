"""Validation: ``RawRow``s -> accepted ``Record``s and French ``Problem``s. Pure, no I/O.

Everything comes from the schema (labels, types, allowed values and their spellings,
rules). Decisions beyond the schema file, in one place:

* a row with at least one ERROR is rejected; the other rows of the file still count;
* an invalid value in an *optional* field is a WARNING and that value is not imported,
  so a typo in « Sexe » does not hold back a young person's referral; in a *required*
  field it is an ERROR;
* an identifier or a phone number typed as a number is imported as its digits with a
  WARNING (its leading zeros may already be lost);
* the contact warning fires only when the cell is filled with neither an e-mail address
  nor a phone number (the field is optional; an empty cell says nothing wrong);
* a fiche dated after ``today`` is a WARNING;
* a row the partner hid is not imported (not counted as rejected) and is reported as a
  WARNING, so the partner knows and can show it if it was meant to be shared;
* another structure named in the file: a title above the table (or a free line of a
  vertical fiche) mentioning a known structure — a name in ``known_structures`` or a
  multi-word établissement of the schema — other than the folder's → WARNING.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .records import Outcome, Problem, RawRow, Record, Severity
from .schema import FieldSpec, FormSchema
from .text import clean_text, fold

_DAY_FIRST = re.compile(r"^(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4}|\d{2})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_EMAIL = re.compile(r"[^@\s;,<>()]+@[^@\s;,<>()]+\.[a-z]{2,}", re.IGNORECASE)
_PHONE = re.compile(r"(?:\+33|0033|\b0)\s*\(?0?\)?\s*[1-9](?:[\s.\-]*\d{2}){4}\b")
_INE_FORMATS = (
    re.compile(r"^[0-9]{9}[A-Z]{2}$"),        # RNIE (Éducation nationale)
    re.compile(r"^[0-9]{10}[A-Z]$"),          # BEA (base élèves académique)
    re.compile(r"^[0-9]{4}A[0-9]{5}[A-Z]$"),  # apprentissage
)
_TRUE_WORDS = ("oui", "o", "vrai", "true")
_FALSE_WORDS = ("non", "n", "faux", "false")
_MAX_SERIAL = 2958465  # 31/12/9999 in Excel's calendar
_VALUE_SHOWN = 80


@dataclass
class Validation:
    """What one file gives: accepted records, problems for the partner, count of rejected rows.

    ``Record.fields`` holds only the fields that were filled with a valid value; a field
    left empty (or an optional field with an invalid value) has no key.
    """

    records: list[Record] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rejected_rows: int = 0
    file_rejected: bool = False   # nothing in the file could be considered

    def outcome(self, accepted: Outcome = Outcome.IMPORTED) -> Outcome:
        """REJECTED when nothing in the file can be imported, else ``accepted`` (sync knows imported/updated)."""
        return Outcome.REJECTED if self.file_rejected or not self.records else accepted

    @property
    def would_reject(self) -> bool:
        """True when the file or any of its rows would be rejected (``resana-sync validate`` exits non-zero)."""
        return self.file_rejected or self.rejected_rows > 0


@dataclass(frozen=True)
class Issue:
    """A problem before it is placed in a file, row and column."""

    severity: Severity
    code: str
    reason: str
    hint: str


class Invalid(Exception):
    def __init__(self, code: str, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.code, self.reason, self.hint = code, reason, hint


def validate_rows(
    rows: Sequence[RawRow],
    schema: FormSchema,
    *,
    file: str,
    structure: str,
    source_path: str,
    sha256: str,
    today: dt.date,
    known_structures: Iterable[str] = (),
) -> Validation:
    result = Validation()
    if not rows:
        result.file_rejected = True
        result.problems.append(_file_problem(
            file, Severity.ERROR, "aucune-ligne",
            "le fichier ne contient aucune fiche remplie",
            "Remplissez au moins une ligne sous les intitulés, puis déposez à nouveau le fichier.",
        ))
        return result
    labels = schema.label_index()
    result.problems.extend(_unknown_columns(rows, labels, file))
    result.problems.extend(_other_structure(rows[0].titles, structure, known_structures, schema, file))
    for row in rows:
        if row.hidden:
            result.problems.append(make_problem(file, _HIDDEN_ROW, row=row.row_number))
            continue
        record, problems = _validate_row(row, schema, labels, file, structure, source_path, sha256, today)
        result.problems.extend(problems)
        if record is None:
            result.rejected_rows += 1
        else:
            result.records.append(record)
    return result


_HIDDEN_ROW = Issue(
    Severity.WARNING, "ligne-masquee", "ligne masquée : elle n'a pas été importée",
    "Si cette ligne doit être partagée, affichez-la (clic droit sur le numéro de ligne > Afficher) "
    "puis déposez à nouveau le fichier ; sinon supprimez-la.",
)


# --- one row --------------------------------------------------------------------------


def _validate_row(
    row: RawRow,
    schema: FormSchema,
    labels: Mapping[str, FieldSpec],
    file: str,
    structure: str,
    source_path: str,
    sha256: str,
    today: dt.date,
) -> tuple[Record | None, list[Problem]]:
    given = {labels[fold(label)].id: label for label in row.cells if fold(label) in labels}
    fields: dict[str, Any] = {}
    problems: list[Problem] = []

    def report(spec: FieldSpec, issue: Issue) -> None:
        label = given.get(spec.id, spec.label)
        problems.append(_cell_problem(file, row, label, row.cells.get(label), issue))

    for spec in schema.fields:
        raw = row.cells.get(given[spec.id]) if spec.id in given else None
        value, issues = convert(spec, raw, schema.missing_values, row.serial_epoch, today)
        for issue in issues:
            report(spec, issue)
        if value is not None:
            fields[spec.id] = value
    flags: list[str] = []
    for spec in schema.fields:
        for issue in check_rules(spec, fields, today):
            report(spec, issue)
            if issue.severity is Severity.FLAG:
                flags.append(issue.reason)
    if any(p.severity is Severity.ERROR for p in problems):
        return None, problems
    record = Record(
        structure=structure,
        source_path=source_path,
        row_number=row.row_number,
        fields=fields,
        flags=tuple(flags),
        source_sha256=sha256,
    )
    return record, problems


def convert(
    spec: FieldSpec, raw: Any, missing_values: Sequence[str], epoch: dt.date, today: dt.date
) -> tuple[Any, list[Issue]]:
    """The normalised value of one cell (None when empty or invalid) and its issues."""
    if _is_missing(raw, missing_values):
        if spec.required:
            return None, [Issue(Severity.ERROR, "obligatoire", "information obligatoire manquante",
                                f"Renseignez « {spec.label} » puis déposez à nouveau le fichier.")]
        return None, []
    try:
        value, issues = _CONVERTERS[spec.type](spec, raw, epoch, today)
    except Invalid as exc:
        severity = Severity.ERROR if spec.required else Severity.WARNING
        hint = exc.hint if spec.required else f"{exc.hint} Cette information n'a pas été importée."
        return None, [Issue(severity, exc.code, exc.reason, hint)]
    return value, issues


def _is_missing(raw: Any, missing_values: Sequence[str]) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        text = clean_text(raw)
        return text == "" or text in missing_values
    return False


# --- converters: (spec, raw, epoch, today) -> (value, issues); raise Invalid -----------


def _to_text(spec: FieldSpec, raw: Any, epoch: dt.date, today: dt.date) -> tuple[Any, list[Issue]]:
    issues: list[Issue] = []
    if isinstance(raw, bool):
        text = "Oui" if raw else "Non"
    elif isinstance(raw, (int, float)):
        text = _number_text(raw)
        if spec.format in ("ine", "contact"):
            issues.append(Issue(
                Severity.WARNING, "nombre",
                "saisi comme un nombre : les zéros en tête ont pu être perdus",
                f"Vérifiez la valeur et mettez la colonne « {spec.label} » au format Texte avant de la saisir.",
            ))
    elif isinstance(raw, dt.date):
        text = _as_date(raw).strftime("%d/%m/%Y")
    else:
        text = clean_text(str(raw))
    if spec.format == "ine":
        text = re.sub(r"\s+", "", text).upper()
    if spec.values:
        return _allowed(spec, text), issues
    return text, issues


def _to_date(spec: FieldSpec, raw: Any, epoch: dt.date, today: dt.date) -> tuple[Any, list[Issue]]:
    if isinstance(raw, dt.date):
        return _as_date(raw), []
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return _serial_date(raw, epoch), []
    return parse_day_first(clean_text(str(raw)), today), []


def _to_integer(spec: FieldSpec, raw: Any, epoch: dt.date, today: dt.date) -> tuple[Any, list[Issue]]:
    text = _number_text(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else clean_text(str(raw))
    compact = re.sub(r"\s+", "", text)
    if not re.fullmatch(r"-?\d+", compact):
        raise Invalid("nombre-entier", "un nombre entier est attendu",
                      f"Indiquez un nombre entier dans « {spec.label} » (par exemple 4).")
    value = int(compact)
    if spec.minimum is not None and value < spec.minimum:
        raise Invalid("minimum", f"le nombre doit être au moins {spec.minimum}",
                      f"Corrigez « {spec.label} ».")
    return value, []


def _to_boolean(spec: FieldSpec, raw: Any, epoch: dt.date, today: dt.date) -> tuple[Any, list[Issue]]:
    if isinstance(raw, bool):
        return raw, []
    key = fold(str(raw))
    if key in _TRUE_WORDS or key in map(fold, spec.true_values):
        return True, []
    if key in _FALSE_WORDS or key in map(fold, spec.false_values):
        return False, []
    raise Invalid("oui-non", "« Oui » ou « Non » est attendu",
                  f"Répondez « Oui » ou « Non » dans « {spec.label} ».")


def _to_array(spec: FieldSpec, raw: Any, epoch: dt.date, today: dt.date) -> tuple[Any, list[Issue]]:
    text = clean_text(str(raw)).replace("\r", "\n")
    pattern = "|".join(re.escape(sep) for sep in spec.separators)
    items = [clean_text(part) for part in re.split(pattern, text)]
    values: list[str] = []
    for item in filter(None, items):
        value = _allowed(spec, item) if spec.values else item
        if value not in values:
            values.append(value)
    if not values:
        raise Invalid("vide", "aucune valeur lisible", f"Indiquez au moins une valeur dans « {spec.label} ».")
    return tuple(values), []


_CONVERTERS = {
    "string": _to_text,
    "date": _to_date,
    "integer": _to_integer,
    "boolean": _to_boolean,
    "array": _to_array,
}


def _allowed(spec: FieldSpec, text: str) -> str:
    key = fold(text)
    for value in spec.values:
        if key == fold(value) or any(key == fold(s) for s in spec.spellings.get(value, ())):
            return value
    shown = " ; ".join(spec.values)
    raise Invalid("valeur-non-prevue", f"« {text} » ne fait pas partie des valeurs prévues",
                  f"Choisissez parmi : {shown}.")


def _as_date(value: dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _number_text(value: int | float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value).replace(".", ",")


def _serial_date(serial: float, epoch: dt.date) -> dt.date:
    invalid = Invalid("date", "ce nombre n'est pas une date",
                      "Saisissez la date au format jj/mm/aaaa (par exemple 03/12/2012).")
    if not 1 <= serial <= _MAX_SERIAL:
        raise invalid
    try:
        return epoch + dt.timedelta(days=int(serial))
    except OverflowError:   # past year 9999 from a 1904 epoch
        raise invalid from None


def parse_day_first(text: str, today: dt.date) -> dt.date:
    """A date typed as text, always day first (``3/12/2012``, ``03-12-2012``, ``03.12.12``) or ISO."""
    hint = "Saisissez la date au format jj/mm/aaaa (par exemple 03/12/2012)."
    if match := _ISO.match(text):
        year, month, day = map(int, match.groups())
    elif match := _DAY_FIRST.match(text):
        day, month, year = map(int, match.groups())
        if year < 100:
            year += 2000 if 2000 + year <= today.year else 1900
    else:
        raise Invalid("date", "ce n'est pas une date lisible", hint)
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise Invalid("date-impossible", "cette date n'existe pas", f"Corrigez la date. {hint}") from None


# --- rules over the converted row -----------------------------------------------------


def check_rules(spec: FieldSpec, fields: Mapping[str, Any], today: dt.date) -> list[Issue]:
    value = fields.get(spec.id)
    if value is None:
        return []
    issues: list[Issue] = []
    if spec.age_rule:
        issues.extend(_age_issues(spec, value, fields.get(spec.age_rule.get("reference", "date_fiche"))))
    if spec.flag_when and value == spec.flag_when.get("value"):
        issues.append(Issue(Severity.FLAG, "signalement", spec.flag_when["message"], spec.flag_when.get("hint", "")))
    if spec.format == "ine" and not any(p.match(value) for p in _INE_FORMATS):
        issues.append(Issue(
            Severity.WARNING, "ine-format", "l'INE n'a pas un format connu (11 caractères, par exemple 123456789AB)",
            "Vérifiez l'INE sur le dossier de l'élève ; la fiche est importée quand même.",
        ))
    if spec.format == "contact" and not (_EMAIL.search(value) or _PHONE.search(value)):
        issues.append(Issue(
            Severity.WARNING, "contact", "ni adresse électronique ni numéro de téléphone reconnu",
            "Indiquez une adresse électronique ou un numéro de téléphone pour joindre le référent.",
        ))
    if spec.type == "date" and spec.age_rule is None and value > today:
        issues.append(Issue(Severity.WARNING, "date-future", "cette date est dans le futur",
                            "Vérifiez la date ; la fiche est importée quand même."))
    return issues


def _age_issues(spec: FieldSpec, birth: dt.date, reference: dt.date | None) -> list[Issue]:
    if reference is None:
        return []
    rule = spec.age_rule or {}
    age = _age_on(birth, reference)
    low, high = rule.get("reject_below"), rule.get("reject_above")
    if (low is not None and age < low) or (high is not None and age > high):
        return [Issue(
            Severity.ERROR, "age-improbable",
            f"date de naissance probablement erronée (le jeune aurait {age} ans à la date de la fiche)",
            f"Vérifiez l'année de naissance : la cellule suit des jeunes de {low} à {high} ans.",
        )]
    flag_at = rule.get("flag_at")
    if flag_at is not None and _birthday(birth, flag_at) <= _school_year_end(reference, rule):
        return [Issue(Severity.FLAG, "relais", rule.get("flag_message", "Relais MLDS / PSAD à prévoir"),
                      rule.get("flag_hint", ""))]
    return []


def _age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _birthday(birth: dt.date, years: int) -> dt.date:
    try:
        return birth.replace(year=birth.year + years)
    except ValueError:  # born on 29 February: the birthday falls on 1 March in common years
        return dt.date(birth.year + years, 3, 1)


def _school_year_end(day: dt.date, rule: Mapping[str, Any]) -> dt.date:
    month, last_day = map(int, str(rule.get("school_year_end", "08-31")).split("-"))
    year = day.year if (day.month, day.day) <= (month, last_day) else day.year + 1
    return dt.date(year, month, last_day)


# --- file-level checks ----------------------------------------------------------------


def _unknown_columns(rows: Sequence[RawRow], labels: Mapping[str, FieldSpec], file: str) -> list[Problem]:
    unknown: dict[str, int | None] = {}
    for row in rows:
        for label in row.cells:
            if fold(label) not in labels and label not in unknown:
                unknown[label] = row.label_rows.get(label) if row.header_row is None else row.header_row
    issue = Issue(
        Severity.WARNING, "colonne-inconnue", "colonne non reconnue : son contenu n'a pas été importé",
        "Si elle correspond à une information de la fiche, renommez-la comme dans le modèle ; "
        "sinon supprimez-la (seules les informations prévues par la fiche sont partagées).",
    )
    return [make_problem(file, issue, row=row, column=label) for label, row in unknown.items()]


def _other_structure(
    titles: Sequence[str], structure: str, known_structures: Iterable[str], schema: FormSchema, file: str
) -> list[Problem]:
    text = f" {fold(' '.join(titles))} "
    own = fold(structure)
    if not titles or (own and f" {own} " in text):
        return []
    for name in sorted(_structure_names(schema, known_structures)):
        key = fold(name)
        if key and key != own and re.search(rf"(?<![\w]){re.escape(key)}(?![\w])", text):
            return [_file_problem(
                file, Severity.WARNING, "autre-structure",
                f"le titre du fichier mentionne « {name} », pas « {structure} »",
                "Vérifiez que vous avez déposé le bon fichier dans le dossier de votre structure.",
            )]
    return []


def _structure_names(schema: FormSchema, known_structures: Iterable[str]) -> set[str]:
    names = set(known_structures)
    try:
        names.update(v for v in schema.field("etablissement").values if len(v.split()) > 1)
    except KeyError:
        pass
    return names


# --- problem construction -------------------------------------------------------------


def _cell_problem(file: str, row: RawRow, label: str, raw: Any, issue: Issue) -> Problem:
    return make_problem(file, issue, row=row.label_rows.get(label, row.row_number), column=label,
                        value=display_value(raw))


def _file_problem(file: str, severity: Severity, code: str, reason: str, hint: str) -> Problem:
    return make_problem(file, Issue(severity, code, reason, hint))


def make_problem(file: str, issue: Issue, *, row: int | None = None, column: str | None = None, value: str = "") -> Problem:
    """A Problem whose message names the file, the row, the column, the value found and what to do."""
    where = "".join([file, f", ligne {row}" if row else "", f", colonne « {column} »" if column else ""])
    found = f" (valeur trouvée : « {value} »)" if value else ""
    return Problem(
        severity=issue.severity,
        message=f"{where} : {issue.reason}{found}. {issue.hint}".rstrip(),
        file=file,
        row=row,
        column=column,
        value=value or None,
        hint=issue.hint or None,
        code=issue.code,
        reason=issue.reason,
    )


def display_value(raw: Any) -> str:
    """How a raw cell value is shown back to the partner."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "VRAI" if raw else "FAUX"
    if isinstance(raw, (int, float)):
        return _number_text(raw)
    if isinstance(raw, dt.date):
        return _as_date(raw).strftime("%d/%m/%Y")
    text = clean_text(str(raw))
    return text if len(text) <= _VALUE_SHOWN else text[: _VALUE_SHOWN - 1] + "…"
