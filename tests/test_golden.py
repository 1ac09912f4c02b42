"""The outputs of ``tracks``, ``features`` and ``watchlist`` on the real files and a simulated
month equal the ones saved in ``tests/golden`` (made by ``tests/golden/make_golden.py`` before
the code was re-laid out): a refactor that changes an answer fails here."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from .golden import make_golden as G
from .helpers import invoke

pytestmark = pytest.mark.slow

#: Relative and absolute tolerance of the saved features (see test_features_equal_saved).
FLOAT_TOL = 1e-9


@pytest.fixture(scope="module")
def produced(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("golden")
    month = G.simulate_month(work / "month")
    return G.outputs(work, month, G.HERE / "model", command=_in_process)


def _in_process(*args) -> None:
    """The command in this process (the console script's runs are other tests'; ~3 s saved
    a command)."""
    res = invoke(*args)
    assert res.returncode == 0, f"darkvoyage {args[0]} failed: {res.stderr}"


@pytest.mark.parametrize("name", ["real_tracks", "month_tracks"])
def test_tracks_equal_saved(produced, name):
    saved = json.loads((G.HERE / "digests.json").read_text())[name]
    frame = pd.read_parquet(produced[name])
    assert len(frame) == saved["rows"]
    assert G.column_digests(frame) == saved["columns"]


@pytest.mark.parametrize("name", ["real_features", "month_features"])
def test_features_equal_saved(produced, name):
    # Equal to 1e-9, not to the bit: numpy's trigonometry takes another SIMD path on another
    # CPU (on an AMD EPYC up to 1 % of a distance column's values differ from the saved ones in
    # the last bit, <= 1.4e-13 relative); a changed answer is far larger.
    pd.testing.assert_frame_equal(pd.read_parquet(produced[name]), pd.read_parquet(G.HERE / f"{name}.parquet"),
                                  check_exact=False, rtol=FLOAT_TOL, atol=FLOAT_TOL)


@pytest.mark.parametrize("name", ["real_watchlist", "month_watchlist"])
def test_watchlist_equal_saved(produced, name):
    read = lambda p: pd.read_csv(p, dtype=str, keep_default_na=False)  # noqa: E731 - text as written
    pd.testing.assert_frame_equal(read(produced[name]), read(G.HERE / f"{name}.csv"))
