"""Ids, flags and text columns built whole through Arrow, and the gazetteer's shared arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.flags import flag_of
from features.gazetteer import load_gazetteer
from features.ids import str_array, track_ids, track_ids_arrow, voyage_ids


def test_text_columns_equal_what_pandas_builds():
    for values in (np.array(["RU", None, "IR"], dtype=object), np.array([None, None], dtype=object),
                   np.array([], dtype=object), np.array([1, "x", None], dtype=object)):  # not all text: pandas' way
        pd.testing.assert_extension_array_equal(str_array(values), pd.array(values, dtype="str"))


def test_ids_and_flags_as_before():
    mmsi, track_no = np.array([273000001, 422000002, 100]), np.array([0, 3, 1])
    expect = pd.Series(mmsi.astype(str), dtype="str") + "-" + pd.Series(track_no.astype(str), dtype="str")
    pd.testing.assert_series_equal(track_ids(mmsi, track_no), expect)
    start_s = np.array([1727740800.9, 1727740861.0, 0.0])
    stamps = pd.to_datetime(start_s * 1e6, unit="us", utc=True).floor("s").strftime("%Y%m%dT%H%M%SZ")
    got = voyage_ids(track_ids_arrow(mmsi, track_no), np.round(start_s * 1e6).astype(np.int64))
    assert list(got) == [f"{a}-{b}" for a, b in zip(expect, stamps)]
    assert flag_of(mmsi).tolist()[:2] == ["RU", "IR"] and pd.isna(flag_of(mmsi).iloc[2])


def test_the_gazetteer_arrays_are_shared_and_read_only():
    gaz = load_gazetteer()
    assert gaz.lat is gaz.lat  # read once
    with pytest.raises(ValueError):
        gaz.lat[0] = 0.0
    assert gaz.ports["lat"].iloc[0] == gaz.lat[0]


def test_the_coverage_grid_columns_are_read_once_and_read_only():
    """A /score request looks the grid up twice: its columns are read once, and the arrays the
    lookups share cannot be written through; the lookups answer from the table."""
    from features.config import DEFAULT
    from features.coverage import CoverageGrid
    from features.geo import cell_key
    lat, lon = np.array([41.0, 42.5]), np.array([50.0, 51.5])
    cells = cell_key(lat, lon, DEFAULT.coverage_cell_deg)
    grid = CoverageGrid.from_sums(cells, [10, 4], [5, 0], [1e9, 4e9], DEFAULT)
    assert grid._columns is grid._columns
    with pytest.raises(ValueError):
        grid._columns[0][0] = 0
    rate, mean_s, seen = grid.lookup(np.array([41.0, 42.5, 30.0]), np.array([50.0, 51.5, 60.0]))
    assert rate[:2].tolist() == [0.5, 0.0] and seen.tolist() == [10, 4, 0] and np.isnan(rate[2])
    assert mean_s[:2].tolist() == [200.0, 1000.0]  # summed non-gap microseconds / non-gap intervals
    gaz = load_gazetteer()
    assert gaz.anchorage is gaz.anchorage
    with pytest.raises(ValueError):
        gaz.anchorage[0] = True
