"""Optional: files converted by a local LibreOffice (skipped when soffice is not installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import HEADER, good_row, write_openpyxl

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pytestmark = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed; the committed "
                                "LibreOffice-written samples are covered by test_intake_samples.py")


@pytest.mark.parametrize("target", ["ods", "xls", "csv:Text - txt - csv (StarCalc):59,34,76"])
def test_converted_by_libreoffice(tmp_path: Path, check, target: str) -> None:
    source = write_openpyxl(tmp_path / "source.xlsx", [["Titre"], HEADER, good_row(ine="0123456789K")])
    out = tmp_path / "out"
    subprocess.run([SOFFICE, "--headless", f"-env:UserInstallation=file://{tmp_path}/profile", "--convert-to", target,
                    "--outdir", str(out), str(source)], check=True, capture_output=True, timeout=120)
    [converted] = list(out.iterdir())
    [record] = check(converted).records
    assert (record.fields["nom"], record.fields["ine"]) == ("DURAND", "0123456789K")
