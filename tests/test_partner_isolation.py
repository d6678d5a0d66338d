"""Partners are isolated: whatever they drop, each partner's report holds only its own
files and its own young people, and nothing is written into any partner's inbox."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from resana_sync.config import RemoteSettings, Settings
from resana_sync.schema import load_schema
from resana_sync.state import State
from resana_sync.storage.memory import MemoryStorage
from resana_sync.sync import run_sync

SCHEMA = load_schema()
HEADER = ";".join(f.label for f in SCHEMA.fields)
PARTNERS = ["PJJ", "AEMO", "CMPA", "Collège des Remparts", "Centres sociaux"]


def csv_row(nom: str, prenom: str, valid: bool) -> str:
    birth = "14/03/2011" if valid else "31/02/2011"
    return ";".join(["04/11/2025", nom, prenom, birth, "F", "", "Collège des Remparts", "4e", "Scolarisé(e)",
                     "Absentéisme", "3", "Oui", "Mme Référente", "", "", "", ""])


rows = st.lists(st.booleans(), min_size=1, max_size=3)
drops = st.dictionaries(st.sampled_from(PARTNERS), st.lists(rows, min_size=1, max_size=3), min_size=2)


@settings(max_examples=25, deadline=None)
@given(drops=drops)
def test_each_report_holds_only_its_own_partner_files_and_people(drops: dict[str, list[list[bool]]]) -> None:
    files: dict[str, bytes] = {}
    tokens: dict[str, set[str]] = {}
    for p_index, (partner, partner_files) in enumerate(drops.items()):
        tokens[partner] = set()
        for f_index, file_rows in enumerate(partner_files):
            name = f"envoi{p_index}x{f_index}.csv"
            people = [(f"NOM{p_index}Q{f_index}Q{r}", f"Prenom{p_index}Z{f_index}Z{r}") for r in range(len(file_rows))]
            lines = [HEADER] + [csv_row(n, p, ok) for (n, p), ok in zip(people, file_rows)]
            files[f"Dépôts/{partner}/{name}"] = ("\r\n".join(lines) + "\r\n").encode("cp1252")
            tokens[partner] |= {name} | {n for n, _ in people} | {p for _, p in people}
    storage = MemoryStorage(files)

    with tempfile.TemporaryDirectory() as tmp:
        run_settings = Settings(remote=RemoteSettings(kind="local", path=Path(tmp)), state_dir=Path(tmp))
        run_sync(storage, run_settings, SCHEMA, State(Path(tmp) / "state.sqlite"), now=dt.datetime(2025, 11, 20))

    for partner in drops:
        inbox = storage.list(f"Dépôts/{partner}")
        assert {e.name for e in inbox if not e.is_dir} == {k.rsplit("/", 1)[1] for k in files if f"/{partner}/" in k}
        [report] = [e for e in storage.list(f"Dépôts/{partner}/Retours")]
        text = storage.read_bytes(report.path).data.decode("utf-8")
        for other, other_tokens in tokens.items():
            if other != partner:
                leaked = {t for t in other_tokens if t in text}
                assert not leaked, f"{other}'s data in {partner}'s report: {leaked}"
        assert any(t in text for t in tokens[partner])
