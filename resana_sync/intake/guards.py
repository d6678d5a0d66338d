"""Guards run before any parser sees a partner file.

A hostile or broken file must neither stop the run nor exhaust the machine. Before
calamine parses a file:

* its size is capped (``Limits.max_file_bytes``);
* a zip container (xlsx, xlsm, ods) may hold at most ``max_parts`` members, each at
  most ``max_part_bytes`` once decompressed, ``max_total_bytes`` in all, and no large
  member may be compressed more than ``max_ratio`` times (zip bombs);
* every member is decompressed once, in 64 KiB chunks, to check that its real size
  and CRC match the directory (a forged directory cannot smuggle a bigger part) and
  that no XML part declares a DOCTYPE or an entity (billion laughs, external entities).

Memory bound: the checks themselves hold one 64 KiB chunk at a time (the test asserts
a Python peak under 4 MiB on a bomb declaring hundreds of MiB). The parse that follows
works on at most ``max_total_bytes`` (64 MiB) of XML; calamine's memory is a small
multiple of that, so the run stays under a few hundred MiB whatever the file.

Time bound: ``run_with_deadline`` runs the parse in a daemon thread and gives up
waiting after ``parse_seconds``. calamine releases the GIL while parsing, so the run
continues; the abandoned thread finishes on its own (its work is bounded by the size
caps above) and its result is discarded. A subprocess with rlimits would allow killing
it, at the price of a process start per file; the size caps make that unnecessary.
"""

from __future__ import annotations

import logging
import queue
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ..errors import IntakeError

logger = logging.getLogger(__name__)

T = TypeVar("T")
_CHUNK = 64 * 1024
_MIB = 1024 * 1024
_FORBIDDEN_XML = (b"<!DOCTYPE", b"<!ENTITY")


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 20 * _MIB
    max_parts: int = 1000
    max_part_bytes: int = 32 * _MIB
    max_total_bytes: int = 64 * _MIB
    max_ratio: int = 100
    ratio_applies_above: int = 1 * _MIB   # small parts (styles, themes) compress very well
    parse_seconds: float = 30.0


DEFAULT_LIMITS = Limits()


def check_file_size(path: Path, limits: Limits = DEFAULT_LIMITS) -> None:
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise IntakeError(
            f"Le fichier est trop volumineux ({_mib(size)} Mo ; au plus {_mib(limits.max_file_bytes)} Mo). "
            "Une fiche de situation n'a pas besoin d'images ni de pièces jointes : "
            "enregistrez un classeur ne contenant que le tableau."
        )


def check_zip_container(path: Path, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse zip bombs, forged zip directories and XML with DOCTYPE/entity declarations."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            _check_directory(members, limits)
            for member in members:
                _check_member(archive, member)
    except zipfile.BadZipFile as exc:
        raise IntakeError(
            "Le classeur est endommagé (archive incomplète ou corrompue). "
            "Ouvrez-le, enregistrez-le à nouveau puis déposez-le une nouvelle fois."
        ) from exc


def _check_directory(members: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(members) > limits.max_parts:
        raise IntakeError(
            f"Le classeur contient trop d'éléments internes ({len(members)} ; au plus {limits.max_parts}). "
            "Enregistrez une fiche simple, sans objets ni images."
        )
    total = 0
    for member in members:
        if member.flag_bits & 0x1:
            raise IntakeError("Le classeur est chiffré (protégé par mot de passe). Enregistrez-le sans mot de passe.")
        compressed = max(member.compress_size, 1)
        if member.file_size > limits.ratio_applies_above and member.file_size / compressed > limits.max_ratio:
            raise _bomb()
        if member.file_size > limits.max_part_bytes:
            raise _bomb()
        total += member.file_size
        if total > limits.max_total_bytes:
            raise _bomb()


def _check_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """Decompress one member in chunks: zipfile stops at the declared size and checks the CRC."""
    scan_xml = member.filename.endswith((".xml", ".rels", ".vml")) or "." not in member.filename.rsplit("/", 1)[-1]
    tail = b""
    try:
        with archive.open(member) as stream:
            while chunk := stream.read(_CHUNK):
                if scan_xml:
                    window = tail + chunk
                    if any(marker in window for marker in _FORBIDDEN_XML):
                        raise IntakeError(
                            "Le classeur contient des déclarations XML non autorisées (DOCTYPE ou entités), "
                            "utilisées par des fichiers malveillants. Il n'a pas été lu. "
                            "Recopiez les données dans le modèle de fiche."
                        )
                    tail = window[-16:]
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        logger.debug("zip member check failed", exc_info=True)
        raise IntakeError(
            "Le classeur est endommagé (un élément interne ne correspond pas à sa description). "
            "Ouvrez-le, enregistrez-le à nouveau puis déposez-le une nouvelle fois."
        ) from exc


def _bomb() -> IntakeError:
    return IntakeError(
        "Le classeur se décompresse en une taille démesurée (fichier « bombe » ou très anormal). "
        "Il n'a pas été lu. Recopiez les données dans le modèle de fiche."
    )


def run_with_deadline(work: Callable[[], T], seconds: float) -> T:
    """Return ``work()``, or raise ``IntakeError`` if it takes longer than ``seconds``."""
    results: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=1)

    def target() -> None:
        try:
            results.put((True, work()))
        except BaseException as exc:  # handed over to the waiting thread, which re-raises it
            results.put((False, exc))

    threading.Thread(target=target, name="intake-parse", daemon=True).start()
    try:
        ok, value = results.get(timeout=seconds)
    except queue.Empty:
        raise IntakeError(
            f"La lecture du fichier a dépassé {_decimal(seconds)} secondes et a été abandonnée. "
            "Enregistrez une fiche plus simple (sans milliers de lignes ni de formules) et déposez-la à nouveau."
        ) from None
    if ok:
        return value  # type: ignore[return-value]
    raise value  # type: ignore[misc]


def _mib(size: int) -> str:
    return _decimal(round(size / _MIB, 1))


def _decimal(number: float) -> str:
    return f"{number:g}".replace(".", ",")
