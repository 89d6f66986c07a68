"""Well-known locations: the repository root and the install cache outside it."""

from __future__ import annotations

import os
from pathlib import Path

#: The checkout root (the package is installed editable, so this is the working tree).
REPO_ROOT = Path(__file__).resolve().parent.parent

#: Topic specs and JSON Schemas live here, as code.
TOPICS_DIR = REPO_ROOT / "topics"

#: Named pipeline configs shipped with the repository.
PIPELINES_DIR = REPO_ROOT / "compose" / "pipelines"


def default_cache_dir() -> Path:
    """Install cache shared by clones (jars, wheels, trained models): ``$XDG_CACHE_HOME/streaminfer``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "streaminfer"
