"""The Spark engine, one module per job: :mod:`.session` (the Spark session), :mod:`.sources`
(planning and reading inputs, record numbers), :mod:`.bridge` (pandas <-> Spark types),
:mod:`.stages` (validation, tracking and voyage features per MMSI bucket, row accounting),
:mod:`.context` (coverage grid and live context across vessels), :mod:`.output` (workspace
and writing), :mod:`.scoring` (the broadcast scorer, tracks without a voyage, the listed
vessels' fixes) and :mod:`.engine` (:class:`SparkEngine`, the engine interface)."""

from .engine import SparkEngine
from .output import DIR_META, WORKSPACE_CONF, check_output, is_directory_output
from .session import SparkError, session

__all__ = ["DIR_META", "WORKSPACE_CONF", "SparkEngine", "SparkError", "check_output", "is_directory_output", "session"]
