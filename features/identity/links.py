"""One hull across MMSIs: which track's new identity continues which old one.

A candidate pair is the end of track A and the start of track B under another MMSI, B
beginning within ``identity_max_gap_h`` of A's last fix (or up to ``identity_max_overlap_h``
before it), reachable at ``identity_max_speed_kn``, neither at an edge of the data, and not
two different valid IMOs. Each pair's evidence adds log-odds (weights in
:class:`~features.config.Config`): the same IMO, the names' similarity, the call sign, the
ship type, a switch at sea, the old MMSI heard again. A pair's confidence weighs it against
every other candidate of either end and against "a new ship" (a multinomial logit with a null
option, taken from both ends, the smaller kept), so a pairing that is unique and mutual
scores high and one of several look-alikes does not. The best pair of each track that
reaches ``identity_possible`` is a link; links chain across several changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from ..config import Config
from ..geo import KM_PER_NM, haversine_km
from .ends import TrackEnds, valid_imo

#: Pairs examined per block: bounds memory when every track could pair with every other.
_BLOCK = 2_000_000


@dataclass
class Pairs:
    """Candidate pairs (length P): ``a``/``b`` track indexes into :class:`TrackEnds`; the
    evidence (NaN / missing where unknown) and the log-odds ``score``."""

    a: np.ndarray
    b: np.ndarray
    gap_h: np.ndarray
    km: np.ndarray
    speed_kn: np.ndarray
    same_imo: np.ndarray      # float: 1 same, 0 different, NaN unknown (on either side)
    name_sim: np.ndarray      # 0-100, NaN unknown
    same_callsign: np.ndarray
    type_diff: np.ndarray     # bool: both known and different
    at_sea: np.ndarray        # bool: a switch at sea within identity_sea_gap_h
    space: np.ndarray         # log-odds of the space-time term (0 unless at sea)
    reappears: np.ndarray     # bool: A's MMSI heard again after B began
    score: np.ndarray


def candidate_pairs(e: TrackEnds, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) track indexes of every pair in time and in reach, under different MMSIs (the
    new one not heard before the old one ended), off the edges of the data, and not two
    different valid IMOs."""
    if e.n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    edge = int(cfg.identity_edge_h * 3.6e9)
    olds = np.flatnonzero(e.t1_us <= e.t1_us.max() - edge)
    news = np.flatnonzero(e.t0_us >= e.t0_us.min() + edge)
    news = news[np.argsort(e.t0_us[news], kind="stable")]
    starts = e.t0_us[news]
    overlap = int(cfg.identity_max_overlap_h * 3.6e9)
    lo = np.searchsorted(starts, e.t1_us[olds] - overlap)
    hi = np.searchsorted(starts, e.t1_us[olds] + int(cfg.identity_max_gap_h * 3.6e9), side="right")
    n_all = np.maximum(hi - lo, 0)
    imo1_ok, imo0_ok = valid_imo(e.static1["imo"]), valid_imo(e.static0["imo"])
    out_a, out_b = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    # Blocks of old tracks, so that the pair arrays stay bounded.
    cum = np.cumsum(n_all)
    total = int(cum[-1]) if len(cum) else 0
    edges = np.unique(np.r_[0, np.searchsorted(cum, np.arange(_BLOCK, total, _BLOCK), side="right"), len(olds)])
    for i0, i1 in zip(edges[:-1], edges[1:]):
        n = n_all[i0:i1]
        a = np.repeat(olds[i0:i1], n)
        b = news[np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + np.repeat(lo[i0:i1], n)]
        # A new identity is new: its MMSI is first heard no earlier than the old one's end
        # (a later track of a known MMSI is that ship's, after a split or a gap).
        keep = (e.mmsi[a] != e.mmsi[b]) & (e.mmsi_first_us[b] >= e.t1_us[a] - overlap)
        # B begins and ends after A does: links follow time, so no chain can loop.
        keep &= (e.t0_us[b] > e.t0_us[a]) & (e.t1_us[b] > e.t1_us[a])
        a, b = a[keep], b[keep]
        gap_h = np.maximum((e.t0_us[b] - e.t1_us[a]) / 3.6e9, cfg.min_step_s / 3600.0)
        km = haversine_km(e.lat1[a], e.lon1[a], e.lat0[b], e.lon0[b])
        keep = km <= cfg.position_noise_km + cfg.identity_max_speed_kn * KM_PER_NM * gap_h
        keep &= ~(imo1_ok[a] & imo0_ok[b] & (e.static1["imo"][a] != e.static0["imo"][b]))
        out_a.append(a[keep])
        out_b.append(b[keep])
    return np.concatenate(out_a), np.concatenate(out_b)


def _known_same(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1.0 where both texts are known and equal, 0.0 known and different, NaN otherwise."""
    both = (x != "") & (y != "")
    return np.where(both, (x == y).astype(float), np.nan)


def name_similarity(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """rapidfuzz ratio (0-100) of normalised names, pair by pair; NaN where either is unknown.
    Unique names are compared once each (``cdist``), not pair by pair in Python.

    >>> name_similarity(np.array(["KASPIY12", ""], object), np.array(["KASPIY12A", "X"], object)).round().tolist()
    [94.0, nan]
    """
    out = np.full(len(x), np.nan)
    both = (x != "") & (y != "")
    if both.any():
        ux, ix = np.unique(x[both].astype(str), return_inverse=True)
        uy, iy = np.unique(y[both].astype(str), return_inverse=True)
        out[both] = process.cdist(ux, uy, scorer=fuzz.ratio, dtype=np.float32, workers=1)[ix, iy]
    return out


def score_pairs(e: TrackEnds, a: np.ndarray, b: np.ndarray, cfg: Config) -> Pairs:
    """The evidence and log-odds of each candidate pair (see the module's docstring)."""
    gap_h = (e.t0_us[b] - e.t1_us[a]) / 3.6e9
    km = haversine_km(e.lat1[a], e.lon1[a], e.lat0[b], e.lon0[b])
    speed = np.maximum(km - cfg.position_noise_km, 0) / np.maximum(gap_h, cfg.min_step_s / 3600.0) / KM_PER_NM
    imo_ok = valid_imo(e.static1["imo"][a]) & valid_imo(e.static0["imo"][b])
    same_imo = np.where(imo_ok, _known_same(e.static1["imo"][a], e.static0["imo"][b]), np.nan)
    sim = name_similarity(e.static1["name"][a], e.static0["name"][b])
    call = _known_same(e.static1["callsign"][a], e.static0["callsign"][b])
    # Ship types compared by their first AIS digit (7x cargo, 8x tanker): a tanker's "80"
    # and "84" are one kind of hull.
    t1 = pd.Series(e.static1["ship_type"][a], dtype="str").str[:1].fillna("").to_numpy(dtype=object)
    t0 = pd.Series(e.static0["ship_type"][b], dtype="str").str[:1].fillna("").to_numpy(dtype=object)
    type_diff = _known_same(t1, t0) == 0
    at_sea = ~e.port1[a] & ~e.port0[b] & (gap_h <= cfg.identity_sea_gap_h)
    usual = np.where(np.isfinite(e.usual_kn[a]), e.usual_kn[a], cfg.default_speed_kn)
    r = np.maximum(usual * KM_PER_NM * np.maximum(gap_h, 0), cfg.position_noise_km)
    # Space-time likelihood ratio: an unrelated ship's track begins anywhere in the data's
    # area at any time of its span; one hull's new identity within the disk it could sail
    # and within identity_sea_gap_h.
    span_h = (e.t1_us.max() - e.t0_us.min()) / 3.6e9
    lr = data_area_km2(e) / (np.pi * r * r) * max(span_h / cfg.identity_sea_gap_h, 1.0)
    space = np.where(at_sea, np.clip(np.log(np.maximum(lr, 1.0)), 0, cfg.identity_w_space_max), 0)
    reappears = e.mmsi_last_us[a] > e.t0_us[b] + int(cfg.identity_max_overlap_h * 3.6e9)
    s = np.full(len(a), cfg.identity_prior)
    s += np.nan_to_num(same_imo) * cfg.identity_w_imo
    s += np.where(np.isfinite(sim), np.clip((np.nan_to_num(sim) - 70.0) / 30.0, 0, 1), 0) * cfg.identity_w_name
    s += (call == 1) * cfg.identity_w_callsign
    s -= type_diff * cfg.identity_w_type_diff
    s += space
    s -= reappears * cfg.identity_w_reappears
    return Pairs(a, b, gap_h, km, speed, same_imo, sim, call, type_diff, at_sea, space, reappears, s)


def data_area_km2(e: TrackEnds) -> float:
    """Area (km2) of the box around every track's ends: where an unrelated ship's track could
    begin."""
    lat = np.r_[e.lat0, e.lat1]
    lon = np.r_[e.lon0, e.lon1]
    if not len(lat):
        return 0.0
    h = (lat.max() - lat.min()) * 110.574
    w = (lon.max() - lon.min()) * 111.320 * np.cos(np.radians((lat.max() + lat.min()) / 2))
    return float(max(h * w, 0.0))


def confidence(p: Pairs) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, competitors) per pair: ``exp(s) / (1 + sum exp(s'))`` over the pairs of
    the same old track, and over those of the same new track (the 1 is "no link": a new ship,
    or a ship that stopped sending), the smaller of the two; competitors: the other pairs
    sharing either end.

    >>> p = Pairs(*(np.array(v) for v in ([0, 0], [1, 2])), *([np.zeros(2)] * 10), np.array([3.0, 3.0]))
    >>> [round(float(c), 3) for c in confidence(p)[0]], confidence(p)[1].tolist()
    ([0.488, 0.488], [1, 1])
    """
    if not len(p.a):
        return np.zeros(0), np.zeros(0, np.int64)
    w = np.exp(np.clip(p.score, -30, 30))
    conf = np.ones(len(w))
    comp = np.zeros(len(w), np.int64)
    for side in (p.a, p.b):
        _, inv, cnt = np.unique(side, return_inverse=True, return_counts=True)
        tot = np.bincount(inv, weights=w)
        conf = np.minimum(conf, w / (1.0 + tot[inv]))
        comp += cnt[inv] - 1
    return conf, comp
