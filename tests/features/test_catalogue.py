from pathlib import Path

from features.docs import render
from features.catalogue import CONTEXT, FEATURE_NAMES

ROOT = Path(__file__).resolve().parents[2]


def test_feature_reference_is_current():
    assert (ROOT / "docs" / "features.md").read_text() == render(), "run: python -m features.docs > docs/features.md"


def test_every_documented_column_is_produced(tmp_path):
    from features.engine import LocalEngine
    from ..conftest import GFW_REGR
    v = LocalEngine().features([GFW_REGR / "regr_441723000.json"]).voyages
    assert list(v.columns) == [c for c, _, _ in CONTEXT] + FEATURE_NAMES
