"""What saving with openpyxl would drop from a workbook, found by comparing bytes.

Two complementary checks, each phrased in French for the coordinator with a way
to avoid the loss:

* content: worksheet and workbook extension lists (``<extLst>``: newer data
  validations, sparklines, slicers, 2010 conditional formats...) and shapes in
  drawings, which openpyxl always drops;
* parts: every package part of the original, counted by content type, must still
  be there after a save (threaded comments, pivot tables, slicers, macros,
  anything we did not think of).
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections import Counter
from xml.etree import ElementTree

_NS_CT = "{http://schemas.openxmlformats.org/package/2006/content-types}"

# Worksheet/workbook extension URIs (MS-XLSX) and what the coordinator would lose.
_EXTENSIONS = {
    "{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}":
        "des listes déroulantes ou validations de données « récentes » (qui pointent vers une autre feuille) : "
        "recréez-les avec une liste de valeurs saisie directement",
    "{78C0D931-6437-407d-A8EE-F0AAD7539E65}":
        "des mises en forme conditionnelles récentes (barres de données, jeux d'icônes) : "
        "utilisez une mise en forme conditionnelle simple (couleur selon la valeur)",
    "{B025F937-C7B1-47D3-B67F-A62EFF666E3E}":
        "des mises en forme conditionnelles récentes (barres de données, jeux d'icônes) : "
        "utilisez une mise en forme conditionnelle simple (couleur selon la valeur)",
    "{05C60535-1F16-4fd2-B633-F4F36F0B64E0}": "des graphiques sparkline : supprimez-les ou placez-les dans un autre classeur",
    "{A8765BA9-456A-4dab-B4F3-ACF838C121DE}": "des segments (slicers) : utilisez les filtres automatiques",
    "{3A4CF648-6AED-40f4-86FF-DC5316D8AED3}": "des segments (slicers) : utilisez les filtres automatiques",
    "{BBE1A952-AA13-448e-AADC-164F8A28A991}": "des segments (slicers) : utilisez les filtres automatiques",
    "{7E03D99C-DC04-49d9-9315-930204A7B6E9}": "des chronologies (timelines) : utilisez les filtres automatiques",
    "{D0CA8CA8-9F24-4464-BF8E-62219DCF47F9}": "des chronologies (timelines) : utilisez les filtres automatiques",
    "{FC87AEE6-9EDD-4A0A-B7FB-166176984837}": "des plages protégées : protégez la feuille sans plages nommées",
    "{01252117-D84E-4E92-8308-4BE1C098FCBB}": "des indicateurs d'erreur ignorés (triangles verts masqués)",
    "{F7C9EE02-42E1-4005-9D12-6889AFFD525C}": "des compléments web insérés dans la feuille",
}
# Extensions that every Excel or LibreOffice file carries and whose loss changes nothing the
# coordinator made: chart tracking and calculation feature flags, LibreOffice's formula syntax.
_HARMLESS_EXTENSIONS = {
    "{140A7094-0E35-4892-8432-C4D2E57EDEB5}",   # x15:workbookPr chartTrackingRefBase (Excel)
    "{B58B0392-4F1F-4190-BB64-5DF3571DCE5F}",   # xcalcf:calcFeatures (Excel 365)
    "{79F54976-1DA5-4618-B147-4CDE4B953A38}",   # x14:workbookPr (Excel 2010)
    "{7626C862-2A13-11E5-B345-FEFF819CDC9F}",   # loext:extCalcPr (LibreOffice)
}
_BY_URI = {uri.upper(): text for uri, text in _EXTENSIONS.items()}   # writers differ in case
_UNKNOWN_EXTENSION = "des fonctions récentes d'Excel enregistrées en extension ({uri})"

# Part content types whose disappearance is a loss; the message says what and how to avoid it.
_PARTS = {
    "threadedComment": "des commentaires modernes (fils de discussion) : convertissez-les en notes "
                       "(Révision > Commentaires > Convertir en notes)",
    "person": "des commentaires modernes (fils de discussion) : convertissez-les en notes "
              "(Révision > Commentaires > Convertir en notes)",
    "pivotTable": "des tableaux croisés dynamiques : placez-les dans un autre classeur",
    "pivotCacheDefinition": "des tableaux croisés dynamiques : placez-les dans un autre classeur",
    "pivotCacheRecords": "des tableaux croisés dynamiques : placez-les dans un autre classeur",
    "slicer": "des segments (slicers) : utilisez les filtres automatiques",
    "slicerCache": "des segments (slicers) : utilisez les filtres automatiques",
    "timeline": "des chronologies (timelines) : utilisez les filtres automatiques",
    "timelineCache": "des chronologies (timelines) : utilisez les filtres automatiques",
    "vbaProject": "des macros : le tableau partagé doit rester un simple .xlsx sans macros",
    "connections": "des connexions à des données externes",
    "queryTable": "des requêtes de données externes",
    "chart": "des graphiques : placez-les dans un autre classeur",
    "drawing": "des dessins ou images : placez-les dans un autre classeur",
    "image": "des images : placez-les dans un autre classeur",
    "comments": "des notes de cellule",
    "table": "des tableaux mis en forme (Insertion > Tableau) : convertissez-les en plage",
}
_UNKNOWN_PART = "des éléments du classeur de type « {kind} »"
# Parts that openpyxl rewrites differently without losing anything the coordinator made.
_REWRITTEN = {"sharedStrings", "calcChain", "printerSettings", "core-properties", "extended-properties",
              "custom-properties", "relationships", "theme", "styles", "sheet", "worksheet", "main", "vml",
              "vmlDrawing", "xml"}
_SHAPES = re.compile(rb"<(?:\w+:)?(?:sp|cxnSp|grpSp)\b")
_SHAPES_LOST = "des formes ou zones de texte dessinées : remplacez-les par des notes ou du texte dans les cellules"


def losses(original: bytes, saved: bytes) -> list[str]:
    """French descriptions of what ``saved`` lost compared with ``original`` (none: [])."""
    try:
        source = zipfile.ZipFile(io.BytesIO(original))
        result = zipfile.ZipFile(io.BytesIO(saved))
    except zipfile.BadZipFile:
        return []
    found = _extension_losses(source) + _shape_losses(source, result) + _part_losses(source, result)
    return list(dict.fromkeys(found))


def _extension_losses(package: zipfile.ZipFile) -> list[str]:
    found = []
    for name in package.namelist():
        if not (name.startswith("xl/worksheets/") or name == "xl/workbook.xml") or not name.endswith(".xml"):
            continue
        for uri in re.findall(rb'<(?:\w+:)?ext\b[^>]*\buri="([^"]+)"', package.read(name)):
            text = uri.decode("ascii", "replace")
            if text.upper() not in _HARMLESS_EXTENSIONS:
                found.append(_BY_URI.get(text.upper(), _UNKNOWN_EXTENSION.format(uri=text)))
    return found


def _shape_losses(source: zipfile.ZipFile, result: zipfile.ZipFile) -> list[str]:
    def shapes(package: zipfile.ZipFile) -> int:
        return sum(len(_SHAPES.findall(package.read(n))) for n in package.namelist()
                   if n.startswith("xl/drawings/") and n.endswith(".xml"))

    return [_SHAPES_LOST] if shapes(result) < shapes(source) else []


def _part_losses(source: zipfile.ZipFile, result: zipfile.ZipFile) -> list[str]:
    before, after = _part_kinds(source), _part_kinds(result)
    return [_PARTS.get(kind, _UNKNOWN_PART.format(kind=kind))
            for kind, count in sorted(before.items())
            if kind not in _REWRITTEN and after.get(kind, 0) < count]


def _part_kinds(package: zipfile.ZipFile) -> Counter[str]:
    """How many parts of each kind, the kind read from the content type (names may change)."""
    try:
        types = ElementTree.fromstring(package.read("[Content_Types].xml"))
    except (KeyError, ElementTree.ParseError):
        return Counter()
    defaults = {e.get("Extension", "").lower(): e.get("ContentType", "") for e in types.iter(f"{_NS_CT}Default")}
    overrides = {e.get("PartName", "").lstrip("/"): e.get("ContentType", "") for e in types.iter(f"{_NS_CT}Override")}
    kinds: Counter[str] = Counter()
    for name in package.namelist():
        if name.endswith("/") or name == "[Content_Types].xml":
            continue
        ctype = overrides.get(name) or defaults.get(posixpath.splitext(name)[1].lstrip(".").lower(), "")
        kinds[_kind(ctype, name)] += 1
    return kinds


def _kind(ctype: str, name: str) -> str:
    """'application/vnd.ms-excel.threadedcomments+xml' -> 'threadedComment', images -> 'image'."""
    if ctype.startswith("image/"):
        return "image"
    if "vbaProject" in ctype or name.endswith("vbaProject.bin"):
        return "vbaProject"
    tail = ctype.rsplit("/", 1)[-1].split("+")[0]
    tail = tail.rsplit(".", 1)[-1]
    return _CANONICAL.get(tail.lower(), tail)


_CANONICAL = {k.lower(): k for k in (*_PARTS, *_REWRITTEN)} | {
    "threadedcomments": "threadedComment", "pivotcachedefinition": "pivotCacheDefinition",
    "pivotcacherecords": "pivotCacheRecords", "slicercache": "slicerCache", "timelinecache": "timelineCache",
    "querytable": "queryTable", "drawingml": "drawing", "vmldrawing": "vml", "printersettings": "printerSettings",
}
