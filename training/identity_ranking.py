"""Identity evidence in the ranking (issue #23, item 3): the model stays single-track.

``/score`` sees one vessel's positions, so it cannot see that another MMSI went dark where
this one appeared; a model that learnt from linked tracks would answer ``/score`` differently
from the watchlist. So the model's risk stays a one-track probability, and identity links
(:func:`features.identity.link_identities`, which need every vessel's traffic) enter the
ranking by one documented rule:

- a ``likely`` link whose switch happened at sea raises the risk of the two voyages it
  touches (the old identity's last, the new one's first) to at least the model's ``high``
  threshold: a hull that changes its number at sea while dark is what analysts look for, and
  a registered sale happens at a port with AIS on;
- every link (``likely`` or ``possible``, at sea or in port) adds its evidence to those two
  voyages' reasons, and the vessel's earlier MMSIs of its chain go into ``identities``.

The reference set's AP with and without the rule is measured by ``benchmarks/bench_identity.py``
(README, "Identity").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.identity import earlier_mmsis


def touched(voyages: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    """Per link end: (row of ``voyages``, link row, side ``old``/``new``). The old identity's
    last voyage (its track's latest start) and the new identity's first (its track's earliest
    start); a link whose track has no voyage touches nothing on that side."""
    if not len(voyages) or not len(links):
        return pd.DataFrame({"row": np.zeros(0, np.int64), "link": np.zeros(0, np.int64), "side": []})
    v = pd.DataFrame({"track_id": voyages["track_id"].astype("str").to_numpy(dtype=object),
                      "start": pd.to_datetime(voyages["start"], utc=True).to_numpy(), "row": np.arange(len(voyages))})
    v = v.sort_values(["track_id", "start", "row"], kind="stable")
    last = v.drop_duplicates("track_id", keep="last").set_index("track_id")["row"]
    first = v.drop_duplicates("track_id", keep="first").set_index("track_id")["row"]
    k = np.arange(len(links))
    old = links["from_track_id"].astype("str").map(last).to_numpy(dtype=float)
    new = links["to_track_id"].astype("str").map(first).to_numpy(dtype=float)
    out = pd.DataFrame({"row": np.r_[old, new], "link": np.r_[k, k],
                        "side": np.r_[np.full(len(k), "old", object), np.full(len(k), "new", object)]})
    return out[np.isfinite(out["row"])].astype({"row": np.int64}).reset_index(drop=True)


def _reason(links: pd.DataFrame, t: pd.DataFrame) -> np.ndarray:
    lk = links.iloc[t["link"].to_numpy()]
    frm, to = lk["from_mmsi"].astype(str).to_numpy(dtype=object), lk["to_mmsi"].astype(str).to_numpy(dtype=object)
    head = np.where(t["side"].to_numpy() == "old", "went dark and came back as " + to, "came back from " + frm)
    return ("identity change (" + lk["level"].astype(str).to_numpy(dtype=object) + "): " + head + ": "
            + lk["evidence"].astype(str).to_numpy(dtype=object))


def with_identities(voyages: pd.DataFrame, links: pd.DataFrame, high: float) -> pd.DataFrame:
    """Scored voyages (``risk``, ``level``, ``reasons``, ``reasons_text``) with the rule of this
    module applied (a new frame): risk raised to ``high`` and level ``high`` on the voyages a
    likely link at sea touches, the link's evidence first in the reasons of every touched
    voyage, and ``identities`` (earlier MMSIs of the vessel's chain, comma-separated; empty if
    none) on every voyage."""
    chain = {m: ", ".join(map(str, ms)) for m, ms in (earlier_mmsis(links) if len(links) else {}).items()}
    out = voyages.assign(identities=voyages["mmsi"].map(chain).fillna("").astype(object) if "mmsi" in voyages else "")
    t = touched(out, links)
    if not len(t):
        return out
    text = _reason(links, t)
    lk = links.iloc[t["link"].to_numpy()]
    raise_ = (lk["level"].to_numpy() == "likely") & lk["at_sea"].to_numpy(bool)
    risk = out["risk"].to_numpy(float).copy()
    level = out["level"].to_numpy(dtype=object).copy()
    rows = t["row"].to_numpy()
    up = rows[raise_]
    risk[up] = np.maximum(risk[up], high)
    level[up] = "high"
    out["risk"], out["level"] = risk, level
    # Reasons: the identity evidence first (one per link end; a voyage two links touch has both).
    texts = pd.Series(text, index=rows).groupby(level=0).agg("; ".join)
    rt = out["reasons_text"].astype("str").fillna("").to_numpy(dtype=object)
    idx = texts.index.to_numpy()
    rt[idx] = np.where(rt[idx] == "", texts.to_numpy(dtype=object), texts.to_numpy(dtype=object) + "; " + rt[idx])
    out["reasons_text"] = rt
    if "reasons" in out:
        reasons = list(out["reasons"])
        for i, s in zip(idx, texts.to_numpy(dtype=object)):  # one step per touched voyage
            reasons[i] = [{"feature": "identity_change", "value": None, "contribution": None, "text": s}] + list(reasons[i] or [])
        out["reasons"] = pd.Series(reasons, index=out.index, dtype=object)
    return out
