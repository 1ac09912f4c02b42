"""The review queue's disagreements read the store as the watchlist ranks: a vessel the
identity rule raised through a link at sea has identity evidence behind it, though the store
keeps links apart from events (found in the browser: such vessels read "no dark event or
identity event behind it")."""

from __future__ import annotations

import doctest
from datetime import datetime, UTC

from sqlalchemy.orm import Session

from serving.desk import review
from serving.desk.config import DeskConfig
from serving.desk.models import IdentityLink, Run, Vessel
from serving.desk.store import open_store

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_the_queues_example_runs():
    assert doctest.testmod(review).failed == 0


def test_a_vessel_raised_by_an_identity_link_is_not_a_bare_high_risk(tmp_path):
    store = open_store(str(tmp_path / "desk.db"))
    with Session(store.engine) as s:
        run = Run(started_at=NOW, model_name="m", model_version="1", model_uri="models:/m/1")
        s.add(run)
        s.flush()
        # 273588670 went dark at sea and came back as 423951410: the rule raised both to 0.88
        s.add_all([Vessel(mmsi=m, name=n, risk=r, level="high" if r >= 0.5 else "low", first_seen=NOW, run_id=run.id)
                   for m, n, r in ((273000001, "TOP", 0.97), (273588670, "DELTA-194", 0.88),
                                   (423951410, "DELTA-194", 0.88), (273711466, "BARE", 0.88))])
        s.add(IdentityLink(run_id=run.id, from_mmsi=273588670, to_mmsi=423951410, level="likely", confidence=0.8,
                           evidence="dark 30 h, 40 km apart, same name"))
        s.commit()
    q = review.review_queue(store, set(), DeskConfig(review_top=1, review_boundary=0, review_disagree=5))
    picks = {i["mmsi"]: i for i in q}
    assert picks[273000001]["pick"] == "top"
    assert picks[273711466]["pick"] == "disagreement" and "no dark event" in picks[273711466]["why"]
    assert 273588670 not in picks and 423951410 not in picks, q
