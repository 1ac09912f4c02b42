"""The environment, read in one place.

Every environment variable darkvoyage honours is a field of :class:`Settings`, with its
variable name, default and reason. Code asks :func:`settings` (read fresh on each call, so a
test or a service start-up that sets a variable sees it) instead of reading ``os.environ``.

>>> Settings.from_env({"DARKVOYAGE_MAX_UPLOAD_MB": "5"}).max_upload_mb
5.0
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from .errors import ConfigError


@dataclass(frozen=True)
class Settings:
    #: MLflow store (``MLFLOW_TRACKING_URI``); empty: the SQLite store under ``mlruns/``.
    mlflow_tracking_uri: str = ""
    #: Model the service and the watchlist load (``DARKVOYAGE_MODEL_URI``); empty: the champion.
    model_uri: str = ""
    #: API key the service requires in ``X-API-Key`` (``DARKVOYAGE_API_KEY``); empty: open.
    api_key: str = ""
    #: Largest request body the service reads, after decompression (``DARKVOYAGE_MAX_UPLOAD_MB``).
    max_upload_mb: float = 100.0
    #: Driver memory of a local Spark session (``DARKVOYAGE_SPARK_DRIVER_MEMORY``): Spark's
    #: 1 GB default is too small for 10 M rows gathered for single-file output.
    spark_driver_memory: str = "3g"
    #: The analysts' store (``DARKVOYAGE_STORE``): a SQLAlchemy URL (``sqlite:///x.db``,
    #: ``postgresql://...``) or a file path; empty: ``darkvoyage.db`` in the working folder.
    store: str = ""
    #: Where darkvoyage keeps what it can rebuild but need not (``DARKVOYAGE_CACHE``): the
    #: default reference set's scenario and voyage table, simulated once per machine instead of
    #: once per MLflow store; empty: ``~/.cache/darkvoyage``.
    cache_dir: str = ""
    #: numpy's advice to the kernel to back every array of 4 MB or more with huge pages
    #: (``NUMPY_MADVISE_HUGEPAGE``, numpy's own variable; numpy's default 1, darkvoyage's 0).
    #: Measured on these (virtual, 2-core) machines, huge pages on advice: building the
    #: reference set spent 10-14 s in the kernel with the advice (~1,660 huge-page faults on
    #: fresh memory), 2-6 s without; ``features`` on 10 M rows 18-19 s with, 12-14 s without.
    #: A loop re-using the same large arrays is faster with it: hence a setting.
    numpy_madvise_hugepage: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = env.get(_VARIABLES[f.name])
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = type(f.default)(raw)
            except ValueError:
                raise ConfigError(f"{_VARIABLES[f.name]}={raw!r} is not a valid {type(f.default).__name__}") from None
        return cls(**values)


_VARIABLES = {
    "mlflow_tracking_uri": "MLFLOW_TRACKING_URI",
    "model_uri": "DARKVOYAGE_MODEL_URI",
    "api_key": "DARKVOYAGE_API_KEY",
    "max_upload_mb": "DARKVOYAGE_MAX_UPLOAD_MB",
    "spark_driver_memory": "DARKVOYAGE_SPARK_DRIVER_MEMORY",
    "store": "DARKVOYAGE_STORE",
    "cache_dir": "DARKVOYAGE_CACHE",
    "numpy_madvise_hugepage": "NUMPY_MADVISE_HUGEPAGE",
}


def settings() -> Settings:
    """The current environment's settings."""
    return Settings.from_env()


def cache_dir() -> Path:
    """The cache folder (:attr:`Settings.cache_dir`, default ``~/.cache/darkvoyage``)."""
    return Path(settings().cache_dir or Path.home() / ".cache" / "darkvoyage")


def apply_numpy_memory() -> None:
    """Apply :attr:`Settings.numpy_madvise_hugepage` to this process (numpy is imported by
    then, so through numpy's switch) and to the processes it starts (Spark's Python workers,
    the service a command launches), which read the variable when they import numpy.
    Entry points call it: the CLI and the service."""
    on = settings().numpy_madvise_hugepage
    os.environ["NUMPY_MADVISE_HUGEPAGE"] = str(on)
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # a numpy without the switch: the variable still reaches child processes
        return
    _set_madvise_hugepage(bool(on))
