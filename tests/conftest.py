import os
from pathlib import Path

import pytest

# Tests never reach a hub: hub requests must fail fast and clearly instead.
os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(scope="session", autouse=True)
def _cache(tmp_path_factory):
    """One ONNX export cache for the whole session, never the user's."""
    os.environ["ZOOMHARD_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def samples_run(tmp_path_factory) -> Path:
    """The bundled samples swept by real EfficientNet-Lite0 weights over the study's full grid."""
    from zoomhard.cli import main

    out = tmp_path_factory.mktemp("runs") / "lite0-samples"
    assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(out), "--no-progress"]) == 0
    return out
