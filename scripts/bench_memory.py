"""Peak memory of one sync over a partner folder that mixes every kind of input, hostile
ones included, compared with a sync over the clean sample tree, in the same run.

    .venv/bin/python scripts/bench_memory.py [--rows 20000]

Each sync runs in a fresh child process over a local folder; its peak RSS is sampled
every 10 ms over the whole process tree (the intake worker included). Prints the peak
of each and their ratio. The bound we hold: a hostile folder must not
cost more than a small multiple of the clean one (the guards refuse bombs before parsing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "resana_sync" / "data" / "demo"

CHILD = r"""
import json, os, sys, threading, time
from pathlib import Path
from resana_sync.config import RemoteSettings, Settings
from resana_sync.runner import run_once

def tree_rss_kib(root):
    # RSS of this process and all its descendants (the intake worker is a grandchild).
    parents, rss = {}, {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
            parents[int(pid)] = int(fields["PPid"])
            rss[int(pid)] = int(fields.get("VmRSS", "0 kB").split()[0])
        except (OSError, KeyError, ValueError):
            continue
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid); grew = True
    return sum(rss.get(pid, 0) for pid in tree)

peak, done = [0], threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], tree_rss_kib(os.getpid()))
        time.sleep(0.01)
threading.Thread(target=sample, daemon=True).start()
space, state = Path(sys.argv[1]), Path(sys.argv[2])
start = time.perf_counter()
report = run_once(Settings(remote=RemoteSettings(kind="local", path=space), state_dir=state))
done.set()
print(json.dumps({
    "seconds": time.perf_counter() - start,
    "peak_rss_mib": peak[0] / 1024,
    "files": {f.name: f.outcome.value + (" - " + f.message if f.outcome.value == "rejeté" else "")
              for f in report.files},
    "outcomes": {k.value: v for k, v in report.outcomes.items()},
}))
"""


def zip_bomb() -> bytes:
    """A 'workbook' whose one sheet inflates to 1 GiB from about 1 MiB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            chunk = b"<c><v>0</v></c>" * 65536
            for _ in range(1024 * 1024 * 1024 // len(chunk)):
                sheet.write(chunk)
    return buffer.getvalue()


def xml_bomb() -> bytes:
    """A workbook whose shared strings hold a billion-laughs entity expansion."""
    lol = "".join(f'<!ENTITY l{i} "{"&l%d;" % (i - 1) * 10 if i else "lol"}">' for i in range(10))
    body = f'<?xml version="1.0"?><!DOCTYPE sst [{lol}]><sst><si><t>&l9;</t></si></sst>'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/sharedStrings.xml", body)
    return buffer.getvalue()


def big_list(rows: int) -> bytes:
    """A partner's long list (a legitimate but large xlsx)."""
    import openpyxl

    from resana_sync.schema import load_schema

    schema = load_schema()
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Fiches")
    sheet.append([f.label for f in schema.fields])
    for i in range(rows):
        born = dt.date(2010, 9, 1) + dt.timedelta(days=i % 1500)  # spread like a real cohort
        sheet.append(["04/11/2025", f"NOM{i:05d}", "Camille", f"{born:%d/%m/%Y}", "F", "", "Collège des Remparts", "4e",
                      "Scolarisé(e)", "Absentéisme", 3, "Oui", "Mme Référente", "", "Texte " * 20, "", ""])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def build_hostile(space: Path, rows: int) -> None:
    shutil.copytree(SAMPLES, space)
    hostile = space / "Dépôts" / "Structure hostile"
    hostile.mkdir()
    (hostile / "bombe.xlsx").write_bytes(zip_bomb())
    (hostile / "entites.xlsx").write_bytes(xml_bomb())
    (hostile / "page.xlsx").write_bytes(b"<html><body>Session expir\xc3\xa9e</body></html>")
    (hostile / "binaire.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4096)
    (hostile / "liste longue.xlsx").write_bytes(big_list(rows))
    (hostile / "export complet.csv").write_bytes(("Nom;Prénom\r\n" + "X;Y\r\n" * 50_000).encode("cp1252"))


def measure(space: Path, state: Path) -> dict[str, object]:
    result = subprocess.run([sys.executable, "-c", CHILD, str(space), str(state)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8000, help="rows of the long legitimate list")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clean, hostile = Path(tmp) / "clean", Path(tmp) / "hostile"
        shutil.copytree(SAMPLES, clean)
        started = time.perf_counter()
        build_hostile(hostile, args.rows)
        print(f"hostile folder built in {time.perf_counter() - started:.1f} s")
        base = measure(clean, Path(tmp) / "state-clean")
        mixed = measure(hostile, Path(tmp) / "state-hostile")
    print(f"clean samples : {base['peak_rss_mib']:.0f} MiB peak, {base['seconds']:.1f} s, {base['outcomes']}")
    print(f"mixed/hostile : {mixed['peak_rss_mib']:.0f} MiB peak, {mixed['seconds']:.1f} s, {mixed['outcomes']}")
    for name, outcome in sorted(mixed["files"].items()):
        print(f"    {name}: {outcome}")
    print(f"ratio hostile/clean peak RSS: {mixed['peak_rss_mib'] / base['peak_rss_mib']:.2f}")


if __name__ == "__main__":
    main()
