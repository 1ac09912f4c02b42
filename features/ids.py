"""Ids and text formats of the outputs, in one place.

A track is ``<mmsi>-<track number>``; a voyage is ``<track_id>-<start, UTC, whole seconds>``.
Columns are built whole (pandas or Arrow string kernels), never a string per row in Python.

>>> import numpy as np
>>> tid = track_ids(np.array([273000001]), np.array([0]))
>>> list(tid), list(voyage_ids(tid, np.array([1727740800.9])))
(['273000001-0'], ['273000001-0-20241001T000000Z'])
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: The start time inside a voyage id (UTC, whole seconds).
VOYAGE_STAMP = "%Y%m%dT%H%M%SZ"
#: Time stamps of rows written as text (the rejected-rows CSV): ISO 8601, microseconds, UTC.
ISO_MICROS = "%Y-%m-%dT%H:%M:%S.%fZ"


def track_ids(mmsi: np.ndarray, track_no: np.ndarray) -> pd.Series:
    """``<mmsi>-<track_no>`` per row (string Series)."""
    return pd.Series(mmsi.astype(str), dtype="str") + "-" + pd.Series(track_no.astype(str), dtype="str")


def voyage_ids(track_id: pd.Series, start_s: np.ndarray):
    """``<track_id>-<start>`` per voyage; ``start_s``: seconds since the epoch (string array)."""
    start = pd.to_datetime(start_s * 1e6, unit="us", utc=True).floor("s")
    return (track_id + "-" + pd.Series(start.strftime(VOYAGE_STAMP), dtype="str")).array


def track_ids_arrow(mmsi: np.ndarray, track_no: np.ndarray) -> pa.Array:
    """:func:`track_ids` as an Arrow array (the ``tracks`` output: millions of rows)."""
    return pc.binary_join_element_wise(pa.array(mmsi).cast(pa.string()), pa.array(track_no).cast(pa.string()), "-")


def voyage_ids_arrow(track_id: pa.Array, start_us: np.ndarray) -> pa.Array:
    """:func:`voyage_ids` as an Arrow array; ``start_us``: microseconds since the epoch."""
    # Whole seconds first: Arrow's %S prints fractions of finer units.
    start = pa.array(np.floor_divide(start_us, 1_000_000), pa.timestamp("s", tz="UTC"))
    return pc.binary_join_element_wise(track_id, pc.strftime(start, format=VOYAGE_STAMP), "-")
