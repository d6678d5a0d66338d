"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from resana_sync.schema import FormSchema, load_schema

DATA = Path(__file__).parent / "data"
SAMPLES = DATA / "samples"

settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None)
# Ten times CI's exploration, for a run by hand before touching the merge (several minutes):
#   HYPOTHESIS_PROFILE=thorough scripts/test tests/merge/test_properties.py tests/test_isolation.py
settings.register_profile("thorough", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _sealed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's credentials, proxies or state directory."""
    for name in list(os.environ):
        if name.startswith("RESANA_SYNC_") or name.lower().endswith("_proxy") or name in ("REQUESTS_CA_BUNDLE",):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def schema() -> FormSchema:
    return load_schema()


@pytest.fixture
def samples_space(tmp_path: Path) -> Path:
    """A writable copy of the sample cell space (the product writes reports and the workbook into it)."""
    target = tmp_path / "espace"
    shutil.copytree(SAMPLES, target, ignore=shutil.ignore_patterns("README.md"))
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target
