"""Frames from columns already in their final form, without pandas' per-column inference.

``pd.DataFrame(dict)`` checks, converts and groups every column (~5-10 us each); on a REST
track the pipeline builds half a dozen small frames (the positions, the tracked fixes, the
port visits, the ~90-column voyage table), and that bookkeeping was ~0.9 ms of a ~7 ms
request. :func:`frame_of` hands arrays that need no decision straight to pandas' block
constructor (:func:`pandas.api.internals.create_dataframe_from_blocks`) and leaves anything
else to the ordinary constructor, so the frame is always the one ``pd.DataFrame`` would build.

>>> f = frame_of({"mmsi": np.array([273000001, 273000002]), "lat": np.array([41.2, 41.3])})
>>> f.dtypes.astype(str).tolist(), f["lat"].tolist()
(['int64', 'float64'], [41.2, 41.3])
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray
from pandas.api.internals import create_dataframe_from_blocks


def frame_of(columns: Mapping[str, object], block: np.ndarray | None = None,
             block_names: Sequence[str] = ()) -> pd.DataFrame:
    """A frame of ``columns`` (name -> 1-D array, each of n rows) and then, optionally, the
    columns ``block_names`` of one float ``block`` (n x k, column-major keeps it a view),
    counted from 0: what ``pd.concat([pd.DataFrame(columns), pd.DataFrame(block,
    columns=block_names)], axis=1)`` gives.

    Taken as they are: numpy numbers and booleans, pandas extension arrays (``str``,
    categorical, nullable boolean, zoned times) and indexes of them. Any other column (a list,
    an object array, a Series, which pandas would align on its index) sends the whole frame
    through ``pd.DataFrame``, which decides its type. Nothing is copied: as with
    ``copy=False``, the frame's columns are the arrays given."""
    blocks = []
    for k, x in enumerate(columns.values()):
        arr = _ready(x)
        if arr is None:
            return _ordinary(columns, block, block_names)
        blocks.append((arr, np.array([k])))
    names = (*columns, *block_names)
    if block is not None:
        blocks.append((block.T, np.arange(len(columns), len(names))))
    n = len(block) if block is not None else len(next(iter(columns.values()), ()))
    if any(a.shape[-1] != n for a, _ in blocks):
        raise ValueError(f"columns of different lengths: {({c: len(x) for c, x in columns.items()})}")
    return create_dataframe_from_blocks(blocks, pd.RangeIndex(n), _columns(names))


def with_columns(frame: pd.DataFrame, new: Mapping[str, object]) -> pd.DataFrame:
    """``frame``'s columns that ``new`` does not name, then ``new``'s (name -> 1-D array of
    ``len(frame)``): a new frame sharing the columns, ``frame``'s keeping their types, as
    ``pd.concat([frame.drop(columns=...), pd.DataFrame(new, index=frame.index)], axis=1)``.
    Unlike the concat, the sharing is not copy-on-write: for a caller that hands ``frame``
    over (as :func:`features.clean.validate`'s do), not one that keeps writing into it.

    >>> with_columns(pd.DataFrame({"a": [1, 2], "b": [3, 4]}), {"b": np.array([True, False])}).dtypes.astype(str).tolist()
    ['int64', 'bool']
    """
    if _counted_from_0(frame.index) and frame.columns.is_unique:  # else a name is no column
        kept = {c: frame[c].array for c in frame.columns if c not in new}
        if all(_ready(x) is not None for x in (*kept.values(), *new.values())):
            return frame_of({**kept, **new})
    own = [c for c in new if c in frame.columns]
    return pd.concat([frame.drop(columns=own) if own else frame, pd.DataFrame(new, index=frame.index, copy=False)],
                     axis=1)


def _counted_from_0(index: pd.Index) -> bool:
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def _ready(x) -> np.ndarray | ExtensionArray | None:
    """``x`` as a block's values when it needs no decision, else None."""
    if isinstance(x, pd.Index):
        x = x.array
    if isinstance(x, pd.arrays.NumpyExtensionArray):
        x = x.to_numpy()
    if isinstance(x, np.ndarray):
        return x.reshape(1, -1) if x.ndim == 1 and x.dtype.kind in "biuf" else None
    return x if isinstance(x, ExtensionArray) else None


def _ordinary(columns, block, block_names) -> pd.DataFrame:
    own = pd.DataFrame(columns, copy=False)
    if block is None:
        return own
    return pd.concat([own, pd.DataFrame(block, columns=list(block_names), copy=False)], axis=1)


@functools.lru_cache(maxsize=64)
def _columns(names: tuple[str, ...]) -> pd.Index:
    """One column index per layout, shared by its frames (an index never changes in place):
    its lookup table is built once, not on every frame's first ``name in frame``."""
    return pd.Index(names)
