"""Files the tests make once (a model, an engine) and keep in ~/.cache/portway."""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "portway"


def cached(name: str, make: Callable[[Path], object]) -> Path:
    """CACHE/name, made by make(path) the first time: under a temporary name in the same folder,
    then renamed into place, so that an interrupted run leaves no half-made file behind it."""
    target = CACHE / name
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE, prefix=".making-") as tmp:
        partial = Path(tmp) / name
        make(partial)
        partial.replace(target)
    return target
