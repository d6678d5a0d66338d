"""Intake: from a partner's file to ``RawRow``s, with guards against broken or hostile files.

Public API (used by sync and the CLI):

* ``is_artefact(name)`` — editor/system artefacts, never ingested nor reported;
* ``read_rows(path, display_name)`` — the form rows, or ``IntakeError`` (French, for the partner);
* ``check_file(path, schema, ...)`` — ``read_rows`` then ``validate.validate_rows``; never raises
  for bad content: an unreadable file becomes one whole-file ``Problem``.

``display_name`` is the name the partner knows the file by; it is not logged (names of
files often contain a young person's name).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from ..errors import IntakeError
from ..records import Problem, RawRow, Severity
from ..schema import FieldSpec, FormSchema, load_schema
from ..validate import Issue, Validation, make_problem, validate_rows
from .artefacts import is_artefact
from .formulas import formulas_without_values
from .guards import (
    DEFAULT_LIMITS,
    Limits,
    check_file_size,
    check_sheet_extents,
    check_zip_container,
    run_with_deadline,
)
from .layout import count_labels, find_form
from .readers import Sheet, read_sheets
from .sniff import Format, sniff

__all__ = ["Format", "Limits", "check_file", "is_artefact", "read_rows", "unreadable_file"]

logger = logging.getLogger(__name__)

_ZIP_FORMATS = (Format.XLSX, Format.ODS)


@lru_cache(maxsize=1)
def _default_schema() -> FormSchema:
    return load_schema()


def read_rows(
    path: Path, display_name: str, *, schema: FormSchema | None = None, limits: Limits = DEFAULT_LIMITS
) -> list[RawRow]:
    """The form rows of one partner file; ``IntakeError`` when it cannot be read at all.

    The error's ``message`` is addressed to the partner and its ``file`` attribute is
    ``display_name``, for callers that compose their own sentence.
    """
    schema = schema or _default_schema()
    try:
        check_file_size(path, limits)
        fmt = sniff(path)
        logger.debug("intake: format %s", fmt.name)
        if not fmt.readable:
            raise IntakeError(_unsupported_message(fmt))
        if fmt in _ZIP_FORMATS:
            check_zip_container(path, limits)
        labels = schema.label_index()
        sheets = run_with_deadline(lambda: _parse(path, fmt, labels, limits), limits.parse_seconds)
        return find_form(sheets, labels)
    except IntakeError as exc:
        exc.file = display_name
        raise


def _parse(path: Path, fmt: Format, labels: Mapping[str, FieldSpec], limits: Limits) -> list[Sheet]:
    if fmt is not Format.CSV:
        check_sheet_extents(path, fmt, limits)
    return read_sheets(path, fmt, lambda cells: count_labels(cells, labels))


def check_file(
    path: Path,
    schema: FormSchema,
    *,
    display_name: str,
    structure: str,
    source_path: str,
    sha256: str,
    today: dt.date,
    known_structures: Iterable[str] = (),
    limits: Limits = DEFAULT_LIMITS,
) -> Validation:
    """Read and validate one file; bad content ends in problems, never in an exception."""
    try:
        rows = read_rows(path, display_name, schema=schema, limits=limits)
    except IntakeError as exc:
        return unreadable_file(display_name, exc.message)
    except (OSError, MemoryError):
        raise   # the machine, not the file: sync decides
    except Exception as exc:
        # A file no reader anticipated must not stop the run. The exception text may quote
        # cell content, so only its type is logged above DEBUG.
        logger.warning("intake: unexpected %s while reading a partner file", type(exc).__name__)
        logger.debug("intake: unexpected error", exc_info=True)
        return unreadable_file(display_name, UNEXPECTED_MESSAGE)
    validation = validate_rows(
        rows,
        schema,
        file=display_name,
        structure=structure,
        source_path=source_path,
        sha256=sha256,
        today=today,
        known_structures=known_structures,
    )
    logger.debug("intake: %d rows accepted, %d rejected", len(validation.records), validation.rejected_rows)
    unsaved = formulas_without_values(path) if sniff(path) is Format.XLSX else 0
    if unsaved:
        validation.problems.insert(0, make_problem(display_name, Issue(
            Severity.WARNING, "formules-sans-valeur",
            f"{unsaved} cellule(s) contiennent une formule dont le résultat n'a pas été enregistré : "
            "elles sont lues comme vides",
            "Ouvrez le fichier dans votre tableur, enregistrez-le, puis déposez-le à nouveau.")))
    return validation


UNEXPECTED_MESSAGE = (
    "Le fichier n'a pas pu être lu (contenu inattendu). Ouvrez-le, enregistrez-le à nouveau au format "
    "Excel (.xlsx) puis déposez-le ; si le problème continue, prévenez la coordination."
)


def unreadable_file(display_name: str, message: str) -> Validation:
    problem = Problem(
        severity=Severity.ERROR,
        message=f"{display_name} : {message}",
        file=display_name,
        reason=message,
        code="fichier-illisible",
    )
    return Validation(records=[], problems=[problem], rejected_rows=0, file_rejected=True)


def _unsupported_message(fmt: Format) -> str:
    if fmt is Format.ENCRYPTED:
        return (
            "Ce classeur est protégé par mot de passe : il ne peut pas être lu. "
            "Enregistrez-le sans mot de passe (Fichier > Informations > Protéger le classeur) puis déposez-le à nouveau."
        )
    if fmt is Format.HTML:
        return (
            "Ce fichier n'est pas un classeur mais une page web (HTML), souvent une page de connexion "
            "enregistrée à la place du fichier ou un téléchargement qui a échoué. "
            "Téléchargez de nouveau la fiche ou enregistrez-la depuis votre tableur, puis déposez-la."
        )
    if fmt is Format.DAMAGED:
        return (
            "Le classeur est endommagé ou incomplet (le dépôt a peut-être été interrompu). "
            "Ouvrez-le, enregistrez-le à nouveau puis déposez-le une nouvelle fois."
        )
    if fmt is Format.EMPTY:
        return "Le fichier est vide (0 octet) : le dépôt a sans doute été interrompu. Déposez-le à nouveau."
    return (
        f"Format non pris en charge ({fmt.value}) : ce fichier n'est pas une fiche de situation lisible. "
        "Déposez la fiche au format Excel (.xlsx), LibreOffice (.ods) ou CSV, "
        "de préférence à partir du modèle « Fiche de situation.xlsx »."
    )
