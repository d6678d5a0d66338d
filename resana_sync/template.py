"""The blank form ``Fiche de situation.xlsx``, generated from the schema.

Sheet « Fiches »: one header row (the schema's labels) with a note per column (help text
and allowed values), dropdown lists (standard data validations, read by Excel,
LibreOffice and OnlyOffice) for every list field and for Oui/Non, date format
``jj/mm/aaaa`` on date columns and Text format on the other text columns so identifiers
and phone numbers keep their leading zeros. Sheet « Mode d'emploi » explains the form
in French; the hidden sheet « Listes » holds the dropdown values.

The bytes are deterministic for a given schema (fixed zip timestamps and document
dates), so sync can tell whether the copy in ``Modèles/`` is current by comparing bytes.
"""

from __future__ import annotations

import io
import re
import zipfile

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from .schema import FieldSpec, FormSchema

TEMPLATE_NAME = "Fiche de situation.xlsx"
FORM_SHEET = "Fiches"
HELP_SHEET = "Mode d'emploi"
LISTS_SHEET = "Listes"
FORMATTED_ROWS = 200          # rows below the header that get formats and dropdowns
DATE_FORMAT = "DD/MM/YYYY"
TEXT_FORMAT = "@"
_FIXED_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
_FIXED_DOC_TIME = b"2020-01-01T00:00:00Z"
_DOC_DATES = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:(?:created|modified)>)")
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_REQUIRED_FILL = PatternFill("solid", fgColor="FCE4D6")


def build_template(schema: FormSchema) -> bytes:
    workbook = Workbook()
    workbook.properties.creator = "resana-sync"
    workbook.properties.title = schema.title
    form = workbook.active
    form.title = FORM_SHEET
    _write_instructions(workbook.create_sheet(HELP_SHEET), schema)
    lists = workbook.create_sheet(LISTS_SHEET)
    lists.sheet_state = "hidden"
    for col, spec in enumerate(schema.fields, start=1):
        _write_column(workbook, form, lists, col, spec)
    form.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _deterministic(buffer.getvalue())


def _write_column(workbook: Workbook, form: Worksheet, lists: Worksheet, col: int, spec: FieldSpec) -> None:
    letter = get_column_letter(col)
    header = form.cell(row=1, column=col, value=spec.label)
    header.font = Font(bold=True)
    header.fill = _REQUIRED_FILL if spec.required else _HEADER_FILL
    header.alignment = Alignment(wrap_text=True, vertical="top")
    header.comment = Comment(_note(spec), "resana-sync", width=320, height=160)
    form.column_dimensions[letter].width = 40 if spec.long_text else max(14, min(30, len(spec.label) + 4))
    cell_range = f"{letter}2:{letter}{FORMATTED_ROWS + 1}"
    number_format = _number_format(spec)
    for (cell,) in form[cell_range]:
        cell.number_format = number_format
        if spec.long_text:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    validation = _validation(workbook, lists, col, spec)
    if validation is not None:
        form.add_data_validation(validation)
        validation.add(cell_range)


def _number_format(spec: FieldSpec) -> str:
    if spec.type == "date":
        return DATE_FORMAT
    if spec.type in ("integer", "boolean"):
        return "General"
    return TEXT_FORMAT


def _validation(workbook: Workbook, lists: Worksheet, col: int, spec: FieldSpec) -> DataValidation | None:
    if spec.type == "boolean":
        choices = [spec.true_values[0], spec.false_values[0]]
        return _list_validation(f'"{",".join(choices)}"', spec, strict=True)
    if spec.values:
        name = f"liste_{spec.id}"
        letter = get_column_letter(col)
        lists.cell(row=1, column=col, value=spec.label)
        for row, value in enumerate(spec.values, start=2):
            lists.cell(row=row, column=col, value=value)
        ref = f"{quote_sheetname(LISTS_SHEET)}!${letter}$2:${letter}${len(spec.values) + 1}"
        workbook.defined_names[name] = DefinedName(name, attr_text=ref)
        # Several motifs go in one cell: the list helps, but other input must stay possible.
        # OOXML stores formulas without the leading "=" (Excel "repairs" a file that has one).
        return _list_validation(name, spec, strict=spec.type != "array")
    if spec.type == "integer":
        validation = DataValidation(type="whole", operator="greaterThanOrEqual", formula1=str(spec.minimum or 0))
        validation.error = "Indiquez un nombre entier."
        validation.errorTitle = spec.label
        validation.showErrorMessage = True
        return validation
    return None


def _list_validation(formula: str, spec: FieldSpec, *, strict: bool) -> DataValidation:
    validation = DataValidation(type="list", formula1=formula, allow_blank=True)
    validation.showErrorMessage = True
    validation.errorStyle = "stop" if strict else "information"
    validation.errorTitle = spec.label
    validation.error = "Choisissez une valeur dans la liste." if strict else (
        "Valeur hors liste : pour plusieurs motifs, séparez-les par « ; »."
    )
    validation.promptTitle = spec.label[:32]
    validation.prompt = spec.help[:255]
    validation.showInputMessage = True
    return validation


def _note(spec: FieldSpec) -> str:
    lines = [spec.help, "Obligatoire." if spec.required else "Facultatif."]
    if spec.values:
        lines.append("Valeurs : " + " ; ".join(spec.values))
    return "\n".join(filter(None, lines))


def _write_instructions(sheet: Worksheet, schema: FormSchema) -> None:
    intro = [
        "Fiche de situation — cellule de veille territoriale jeunesse",
        "",
        "1. Remplissez une ligne par jeune dans l'onglet « Fiches », sous les intitulés (ne les modifiez pas).",
        "2. Les colonnes sur fond orangé sont obligatoires ; une ligne incomplète ne peut pas être partagée.",
        "3. Dates au format jj/mm/aaaa (par exemple 03/12/2012).",
        "4. Choisissez les valeurs dans les listes déroulantes ; plusieurs motifs se séparent par « ; ».",
        "5. L'INE et les numéros de téléphone sont en format Texte : les zéros du début sont conservés.",
        "6. N'ajoutez pas de colonnes : seules les informations prévues par la fiche sont partagées.",
        "7. La famille doit être informée de la saisine de la cellule.",
        "8. Déposez le fichier dans le dossier de votre structure ; un compte rendu arrive dans « Retours ».",
        "",
    ]
    for row, text in enumerate(intro, start=1):
        sheet.cell(row=row, column=1, value=text)
    sheet["A1"].font = Font(bold=True, size=14)
    start = len(intro) + 1
    for col, title in enumerate(("Colonne", "Obligatoire", "Ce qu'il faut indiquer", "Valeurs possibles"), start=1):
        sheet.cell(row=start, column=col, value=title).font = Font(bold=True)
    for row, spec in enumerate(schema.fields, start=start + 1):
        # Quoted so this sheet is never mistaken for a filled vertical fiche when read back.
        sheet.cell(row=row, column=1, value=f"« {spec.label} »")
        sheet.cell(row=row, column=2, value="oui" if spec.required else "non")
        sheet.cell(row=row, column=3, value=spec.help)
        sheet.cell(row=row, column=4, value=" ; ".join(spec.values) or _values_hint(spec))
    for letter, width in zip("ABCD", (42, 12, 70, 60)):
        sheet.column_dimensions[letter].width = width


def _values_hint(spec: FieldSpec) -> str:
    return {"boolean": "Oui ; Non", "date": "jj/mm/aaaa", "integer": "nombre entier"}.get(spec.type, "")


def _deterministic(data: bytes) -> bytes:
    """Same schema, same bytes: fixed member timestamps and document dates."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _DOC_DATES.sub(rb"\g<1>" + _FIXED_DOC_TIME + rb"\g<2>", content)
            target.writestr(zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME), content, zipfile.ZIP_DEFLATED)
    return out.getvalue()
