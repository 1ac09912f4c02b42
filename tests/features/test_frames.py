"""Frames built straight from typed columns are the frames ``pd.DataFrame`` builds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from features.frames import frame_of, with_columns
from features.ids import str_array
from features.tracks import utc_times
from serving.request_models import TrackIn, track_frame


def _typed_columns(n: int) -> dict:
    rng = np.random.default_rng(3)
    return {
        "mmsi": rng.integers(2e8, 8e8, n), "track_no": np.arange(n, dtype=np.int32), "lat": rng.normal(41, 1, n),
        "ok": rng.random(n) > 0.5, "timestamp": utc_times(np.arange(n, dtype=np.int64) * 60_000_000),
        "name": str_array(np.array([None if k % 3 else f"SHIP {k}" for k in range(n)], dtype=object)),
        "reason": pd.Categorical.from_codes(rng.integers(-1, 2, n), categories=["a", "b"]),
        "seen": pd.array(np.where(np.arange(n) % 2, True, None), dtype="boolean"),
    }


@pytest.mark.parametrize("n", [0, 1, 7])
def test_typed_columns_give_the_ordinary_frame(n):
    cols = _typed_columns(n)
    pd.testing.assert_frame_equal(frame_of(cols), pd.DataFrame(cols))
    block = np.asfortranarray(np.arange(n * 3, dtype=float).reshape(n, 3))
    expect = pd.concat([pd.DataFrame(cols), pd.DataFrame(block, columns=["f1", "f2", "f3"])], axis=1)
    pd.testing.assert_frame_equal(frame_of(cols, block, ["f1", "f2", "f3"]), expect)


def test_columns_pandas_would_infer_are_left_to_pandas():
    """A list or an object array of text becomes pandas' ``str`` column, as in ``pd.DataFrame``."""
    cols = {"mmsi": np.array([1, 2]), "name": np.array(["A", None], dtype=object), "imo": ["1", "2"]}
    got = frame_of(cols)
    pd.testing.assert_frame_equal(got, pd.DataFrame(cols))
    assert str(got["name"].dtype) == "str"


def test_columns_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="different lengths"):
        frame_of({"a": np.arange(3), "b": np.arange(2)})
    with pytest.raises(ValueError, match="different lengths"):
        frame_of({"a": np.arange(3)}, np.zeros((2, 1), order="F"), ["f"])


def test_frames_of_one_layout_share_their_column_index_but_not_their_columns():
    a, b = frame_of({"x": np.arange(3.0)}), frame_of({"x": np.arange(3.0)})
    assert a.columns is b.columns
    a["y"] = 1.0
    a.loc[0, "x"] = 9.0
    assert list(b.columns) == ["x"] and b["x"].tolist() == [0.0, 1.0, 2.0]


def test_a_request_frame_is_what_pandas_infers_from_the_positions():
    """Every field a request may carry, with gaps: numbers float (None is NaN), nav_status whole
    numbers unless one is missing, text ``str``, times UTC microseconds whatever their zone."""
    t0 = datetime(2024, 3, 1, 5, tzinfo=UTC)
    positions = [{"timestamp": (t0 + timedelta(hours=k)).astimezone(timezone(timedelta(hours=k % 4))), "lat": 41.0,
                  "lon": 51.0 + k / 10, "sog": 9.5 if k else None, "nav_status": k % 2, "name": "K\xf8BENHAVN" if k else None,
                  "destination": "ASTRAKHAN"} for k in range(5)]
    req = TrackIn.model_validate({"mmsi": 273123456, "positions": positions})
    got = track_frame(req.mmsi, req.positions)
    expect = pd.DataFrame(req.positions)
    expect["timestamp"] = pd.to_datetime(expect["timestamp"], utc=True).dt.as_unit("us")
    expect.insert(0, "mmsi", np.int64(273123456))
    pd.testing.assert_frame_equal(got[list(expect.columns)], expect, check_like=False)
    assert got["nav_status"].dtype == np.int64 and got["_line"].tolist() == [1, 2, 3, 4, 5]
    req.positions[2]["nav_status"] = None
    assert track_frame(req.mmsi, req.positions)["nav_status"].isna().tolist() == [False, False, True, False, False]


def test_columns_added_to_a_frame_replace_its_own_and_keep_its_types():
    """As the concat it replaces: the frame's other columns unchanged (an object column of text
    stays object: nothing is inferred again), the new ones last, replacing any of the same name."""
    n = 4
    typed = pd.DataFrame(_typed_columns(n))
    mixed = typed.assign(note=pd.Series(["a", None, "b", "c"], dtype=object))
    indexed = typed.set_axis(pd.RangeIndex(10, 10 + n))
    new = {"reason": pd.Categorical.from_codes(np.array([0, -1, -1, 1]), categories=["x", "y"]),
           "static": np.array([False, True, False, False])}
    for frame in (typed, mixed, indexed):
        expect = pd.concat([frame.drop(columns=["reason"]), pd.DataFrame(new, index=frame.index)], axis=1)
        got = with_columns(frame, new)
        pd.testing.assert_frame_equal(got, expect)
        assert list(got.columns[-2:]) == ["reason", "static"]
    assert with_columns(mixed, new)["note"].dtype == object


def test_a_frame_with_a_repeated_column_name_takes_the_concat():
    """Two columns of one name are no single column to take: the concat's answer, no error."""
    frame = pd.DataFrame([[1, 2, 3]], columns=["a", "note", "note"])
    new = {"static": np.array([True])}
    pd.testing.assert_frame_equal(with_columns(frame, new), pd.concat([frame, pd.DataFrame(new)], axis=1))
