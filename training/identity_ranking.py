"""Identity evidence in the ranking (issue #23, item 3): the model stays single-track.

``/score`` sees one vessel's positions, so it cannot see that another MMSI went dark where
this one appeared; a model that learnt from linked tracks would answer ``/score`` differently
from the watchlist. So the model's risk stays a one-track probability, and identity links
(:func:`features.identity.link_identities`, which need every vessel's traffic) enter the
ranking by one documented rule:

- a ``likely`` link whose switch happened at sea raises the risk of the two voyages it
  touches (the old identity's last, the new one's first) to at least :data:`RULE_RISK` and
  the level to ``high``: a hull that changes its number at sea while dark is what analysts
  look for, and a registered sale happens at a port with AIS on;
- every link (``likely`` or ``possible``, at sea or in port) adds its evidence to those two
  voyages' reasons, and the vessel's earlier MMSIs of its chain go into ``identities``;
- a hull event (:func:`features.identity.hull_events`: two hulls reporting at once on one
  MMSI, or positions made up: one point to the metre, or circles, at a sailing speed) raises
  every voyage of that MMSI (for spoofing: of that track) overlapping it in time the same way,
  its detail first in the reasons. Not when the MMSI is an installer's default
  (:func:`features.flags.default_mmsi`: small craft share those), and no shared MMSI
  inside GPS interference (dropped there already); two hulls raise only when they reported in
  at least :data:`SHARED_MMSI_RAISE_H` of the same hours or :data:`SHARED_MMSI_FAR_KM` apart
  (else they still stand in the reasons).

The reference set's AP with and without the rule is measured by ``benchmarks/bench_identity.py``
(README, "Identity").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.identity import earlier_mmsis
from features.identity.shared import shared_evidence, shared_tracks
from features.flags import default_mmsi

#: A shared MMSI raises its voyages only when the two tracks reported in at least this many of
#: the same clock hours, or were :data:`SHARED_MMSI_FAR_KM` apart. One hull whose track GPS
#: interference or a seam split in two gives a few hours (the reference world and worlds 11
#: and 303: at most 4, and 10 at one seam); the planted second hulls there 31-161. Below it the
#: event stays in the reasons: at 3 h, 16 of the 32 voyages the rule raised on the reference
#: world were benign (``bench_identity.py``).
SHARED_MMSI_RAISE_H = 12
#: ... or when the two tracks were at least this far apart (km) as the later one began: no
#: interference area or seam throws one hull's fixes that far (those worlds: 7-52 km; an
#: interference area's radius is 15-40 km), two transmitters on one number are (GFW's real
#: fixtures: 4,637-18,236 km).
SHARED_MMSI_FAR_KM = 500.0
#: The risk a raised voyage takes (at least; a model's higher risk stays), measured as the
#: model's risk is calibrated: the share of the voyages the rule raises that were suspicious.
#: On the reference world and worlds 11 and 303 (golden model, ``bench_identity.py``'s worlds)
#: 91 of 103 (identity changes 22 of 22, two hulls 54 of 64: the rest voyages of the two hulls
#: that begin inside the shared window and end after it, labelled by their larger part;
#: spoofing 15 of 17), against 30-79 % of the model's own ``high`` voyages there. It was the
#: model's ``high`` cut-off (0.5), which ranked the rule's voyages below every riskier model
#: voyage.
RULE_RISK = 0.88


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


def hull_touched(voyages: pd.DataFrame, hull: pd.DataFrame | None) -> pd.DataFrame:
    """Per voyage a hull event touches, its evidence: ``row``, ``text``, ``kind`` and whether
    the rule raises it (``raise``: spoofing, or two hulls by :func:`strong_pair`).
    A shared-MMSI event touches the MMSI's voyages overlapping it (one clause a voyage: see
    :func:`_one_shared_clause`), a spoofing one its track's; an installer's default MMSI
    touches nothing."""
    none = pd.DataFrame({"row": np.zeros(0, np.int64), "text": np.zeros(0, object), "kind": np.zeros(0, object),
                         "raise": np.zeros(0, bool)})
    if hull is None or not len(hull) or not len(voyages):
        return none
    ev = hull[~default_mmsi(hull["mmsi"].to_numpy(np.int64))]
    v = pd.DataFrame({"mmsi": voyages["mmsi"].to_numpy(np.int64), "track_id": voyages["track_id"].astype("str").to_numpy(object),
                      "v0": pd.to_datetime(voyages["start"], utc=True).to_numpy(),
                      "v1": pd.to_datetime(voyages["end"], utc=True).to_numpy(), "row": np.arange(len(voyages))})
    e = pd.DataFrame({"mmsi": ev["mmsi"].to_numpy(np.int64), "e_track": ev["track_id"].astype("str").to_numpy(object),
                      "kind": ev["kind"].astype("str").to_numpy(object), "detail": ev["detail"].astype("str").to_numpy(object),
                      "e0": pd.to_datetime(ev["start"], utc=True).to_numpy(), "e1": pd.to_datetime(ev["end"], utc=True).to_numpy()})
    m = v.merge(e, on="mmsi")
    m = m[(m["v0"] <= m["e1"]) & (m["v1"] >= m["e0"]) & ((m["kind"] == "shared_mmsi") | (m["track_id"] == m["e_track"]))]
    m = m.assign(text=np.where(m["kind"] == "spoofing", "spoofing (" + m["detail"] + ")", m["detail"]),
                 strong=(m["kind"] == "spoofing") | strong_pair(m["detail"]))
    m = m.drop_duplicates(["row", "text"])
    return pd.concat([m[m["kind"] == "spoofing"], _one_shared_clause(m[m["kind"] == "shared_mmsi"])]
                     ).rename(columns={"strong": "raise"})[["row", "text", "kind", "raise"]].astype(
                         {"row": np.int64, "text": object, "kind": object, "raise": bool})


def strong_pair(detail: pd.Series) -> np.ndarray:
    """Per ``shared_mmsi`` detail: two hulls beyond what one hull's split track shows
    (:data:`SHARED_MMSI_RAISE_H`, :data:`SHARED_MMSI_FAR_KM`); False for other details. The
    desk alerts on the same (``serving.desk.alerts.alerting``).

    >>> head = "two hulls on one MMSI: tracks 5-0 and 5-1 report in the same hours "
    >>> strong_pair(pd.Series([head + "3 times over 511.6 h, 43 km apart", head + "4 times over 46.0 h, 6660 km apart",
    ...                        head + "112 times over 161.3 h, 497 km apart", "circles: 9.0 turns in 5.9 h"])).tolist()
    [False, True, True, False]
    """
    ev = shared_evidence(detail)
    return ((ev["hours"] >= SHARED_MMSI_RAISE_H) | (ev["km"] >= SHARED_MMSI_FAR_KM)).to_numpy(bool)


def _one_shared_clause(m: pd.DataFrame) -> pd.DataFrame:
    """One clause per voyage for the shared-MMSI events it overlaps: a pair of tracks that
    includes the voyage's own track (of those, the longest event; else the longest of all),
    and how many other pairs.
    Several hulls, or one hull the tracker split, give a pair per two tracks; each pair's
    detail again would say the same thing several times over."""
    pair = shared_tracks(m["detail"])
    own = (pair["a"].to_numpy(object) == m["track_id"].to_numpy(object)) | \
          (pair["b"].to_numpy(object) == m["track_id"].to_numpy(object))
    m = m.assign(own=own, span=m["e1"] - m["e0"]).sort_values(["row", "own", "span"], ascending=[True, False, False],
                                                              kind="stable")
    more = m.groupby("row")["text"].transform("size").to_numpy() - 1
    m = m.assign(strong=m.groupby("row")["strong"].transform("max"))  # any pair strong enough raises
    first = ~m["row"].duplicated().to_numpy()
    tail = np.where(more == 1, " (and 1 other pair of tracks on this MMSI)",
                    " (and " + more.astype(str).astype(object) + " other pairs of tracks on this MMSI)")
    text = m["text"].to_numpy(object) + np.where(more > 0, tail, "")
    return m.assign(text=text)[first]


def with_identities(voyages: pd.DataFrame, links: pd.DataFrame, high: float,
                    hull: pd.DataFrame | None = None) -> pd.DataFrame:
    """Scored voyages (``risk``, ``level``, ``reasons``, ``reasons_text``) with the rule of this
    module applied (a new frame): risk raised to :data:`RULE_RISK` (at least the model's
    ``high`` cut-off) and level ``high`` on the voyages a likely link at sea or a hull event
    (``hull``: :func:`features.identity.hull_events`; two hulls by :func:`strong_pair`)
    touches, the evidence first in the reasons of every touched voyage, and ``identities``
    (earlier MMSIs of the vessel's chain, comma-separated; empty if none) on every voyage."""
    chain = {m: ", ".join(map(str, ms)) for m, ms in (earlier_mmsis(links) if len(links) else {}).items()}
    out = voyages.assign(identities=voyages["mmsi"].map(chain).astype(object).fillna("") if "mmsi" in voyages else "")
    t, h = touched(out, links), hull_touched(out, hull)
    if not len(t) and not len(h):
        return out
    lk = links.iloc[t["link"].to_numpy()]
    raise_ = np.r_[(lk["level"].to_numpy() == "likely") & lk["at_sea"].to_numpy(bool), h["raise"].to_numpy(bool)]
    text = np.r_[_reason(links, t) if len(t) else np.zeros(0, object), h["text"].to_numpy(object)]
    risk = out["risk"].to_numpy(float).copy()
    level = out["level"].to_numpy(dtype=object).copy()
    rows = np.r_[t["row"].to_numpy(np.int64), h["row"].to_numpy(np.int64)]
    up = rows[raise_]
    risk[up] = np.maximum(risk[up], max(high, RULE_RISK))
    level[up] = "high"
    out["risk"], out["level"] = risk, level
    # Reasons: the identity evidence first (one per link end or event; a voyage two touch has both).
    texts = pd.Series(text, index=rows).groupby(level=0).agg("; ".join)
    feature = pd.Series(np.r_[np.full(len(t), "identity_change", object), h["kind"].to_numpy(object)],
                        index=rows).groupby(level=0).first().reindex(texts.index)
    rt = out["reasons_text"].astype("str").fillna("").to_numpy(dtype=object)
    idx = texts.index.to_numpy()
    rt[idx] = np.where(rt[idx] == "", texts.to_numpy(dtype=object), texts.to_numpy(dtype=object) + "; " + rt[idx])
    out["reasons_text"] = rt
    if "reasons" in out:
        reasons = list(out["reasons"])
        for i, s, f in zip(idx, texts.to_numpy(dtype=object), feature.to_numpy(object)):  # one step per touched voyage
            reasons[i] = [{"feature": f, "value": None, "contribution": None, "text": s}] + list(reasons[i] or [])
        out["reasons"] = pd.Series(reasons, index=out.index, dtype=object)
    return out
