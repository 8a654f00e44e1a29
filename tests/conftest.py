"""Test-wide settings: offscreen Qt, one torch thread, offline hubs, a private FlowStudio home."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`acceptance` tests (a real model trained for many minutes, to check an issue's goal) run only when asked:
    `make test-acceptance`, `-m acceptance`, or FLOWSTUDIO_ACCEPTANCE=1. They are reported as skipped otherwise."""
    if os.environ.get("FLOWSTUDIO_ACCEPTANCE") == "1" or "acceptance" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="acceptance run (tens of minutes on a CPU): make test-acceptance")
    for item in items:
        if "acceptance" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _flowstudio_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Runs and cache go to a temp dir; built-in models are shared across sessions (they are deterministic)."""
    if "FLOWSTUDIO_HOME" not in os.environ:
        os.environ["FLOWSTUDIO_HOME"] = str(tmp_path_factory.mktemp("flowstudio_home"))
