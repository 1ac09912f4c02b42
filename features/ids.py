"""Ids and text formats of the outputs, in one place.

A track is ``<mmsi>-<track number>``; a voyage is ``<track_id>-<start, UTC, whole seconds>``.
Columns are built whole with Arrow's string kernels, never a string per row in Python; the
pandas forms wrap the Arrow arrays (a few tens of microseconds, which the REST path notices).

>>> import numpy as np
>>> tid = track_ids_arrow(np.array([273000001]), np.array([0]))
>>> list(track_ids(np.array([273000001]), np.array([0]))), voyage_ids(tid, np.array([1727740800_900000])).tolist()
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


#: pandas' ``str`` dtype (Arrow-backed, NaN for missing).
STR = pd.StringDtype("pyarrow", na_value=np.nan)


def str_array(values) -> pd.api.extensions.ExtensionArray:
    """Text values (an object array with None for missing, or an Arrow string array) as a
    pandas ``str`` array, through Arrow directly: ``pd.array(..., dtype="str")`` costs ~15 us a
    column, which a REST request pays ~15 times. Values that are not all text take that path.

    >>> list(str_array(np.array(["RU", None], dtype=object)))
    ['RU', nan]
    """
    try:
        arr = values if isinstance(values, pa.Array) else pa.array(values, type=pa.large_string(), from_pandas=True)
        return pd.arrays.ArrowStringArray(arr.cast(pa.large_string()), dtype=STR)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pd.array(values, dtype="str")


def track_ids(mmsi: np.ndarray, track_no: np.ndarray) -> pd.Series:
    """``<mmsi>-<track_no>`` per row (string Series)."""
    return pd.Series(str_array(track_ids_arrow(mmsi, track_no)), copy=False)


def voyage_ids(track_id: pa.Array, start_us: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``<track_id>-<start>`` per voyage (string array); ``track_id``: :func:`track_ids_arrow`,
    ``start_us``: microseconds since the epoch."""
    return str_array(voyage_ids_arrow(track_id, start_us))


def track_ids_arrow(mmsi: np.ndarray, track_no: np.ndarray) -> pa.Array:
    """:func:`track_ids` as an Arrow array (the ``tracks`` output: millions of rows)."""
    return pc.binary_join_element_wise(pa.array(mmsi).cast(pa.string()), pa.array(track_no).cast(pa.string()), "-")


def voyage_ids_arrow(track_id: pa.Array, start_us: np.ndarray) -> pa.Array:
    """:func:`voyage_ids` as an Arrow array; ``start_us``: microseconds since the epoch."""
    return pc.binary_join_element_wise(track_id, utc_stamps(start_us), "-")


def utc_stamps(t_us: np.ndarray) -> pa.Array:
    """The id time stamp (:data:`VOYAGE_STAMP`, UTC, whole seconds) of each time in
    microseconds since the epoch; voyage and event ids both carry it.

    >>> utc_stamps(np.array([1727740800_900000])).to_pylist()
    ['20241001T000000Z']
    """
    # Whole seconds first: Arrow's %S prints fractions of finer units.
    start = pa.array(np.floor_divide(np.asarray(t_us, np.int64), 1_000_000), pa.timestamp("s", tz="UTC"))
    return pc.strftime(start, format=VOYAGE_STAMP)
