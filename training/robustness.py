"""Does the score hold when the feed changes but the behaviour does not?

A labelled scenario's positions are changed in ways that leave every ship's behaviour as it
was: an optional column left out, the destination typed in other realistic forms, reporting
thinned outside gaps, positions jittered by GPS noise, the whole set shifted in time, the same
data through another provider's layout (CSV, US MarineCadastre, Global Fishing Watch NDJSON,
raw NMEA). The model scores each variant through the readers and the whole pipeline. A model
that reads behaviour keeps its average precision (within :data:`MAX_AP_CHANGE`) and its
ranking of vessels (Spearman >= :data:`MIN_SPEARMAN`); one that keys on how text is typed,
or on a column some feeds lack, does not. ``benchmarks/bench_feeds.py`` prints the table;
``tests/training/test_robustness.py`` holds a model to it and shows it catches one that keys
on the destination text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from features.config import DEFAULT, Config
from features.destinations import reader_for
from features.gazetteer import Gazetteer

from .evaluation import average_precision

#: The issue's bars: reference AP under every change within this of the unchanged set, and
#: the vessels' ranks at least this Spearman correlation with the unchanged ranks.
MAX_AP_CHANGE = 0.03
MIN_SPEARMAN = 0.9
#: Optional canonical columns (contract section 1) a feed may lack.
OPTIONAL = ("sog", "cog", "heading", "nav_status", "name", "imo", "callsign", "ship_type", "destination", "draught",
            "receiver_type")
#: Positions jitter (m, standard deviation per coordinate): GPS noise of a Class A receiver.
JITTER_M = 50.0
#: The time shift: a year and a few hours later (another weekday, another time of day).
SHIFT = pd.Timedelta(days=371, hours=5)


@dataclass(frozen=True)
class Variant:
    """One change that keeps behaviour: ``write(positions, labels, folder, rng)`` writes the
    changed feed and returns (positions file, label file)."""

    name: str
    what: str
    write: Callable


# --- the changes -----------------------------------------------------------------------------

def _parquet(pos: pd.DataFrame, labels: pd.DataFrame, folder: Path, name: str = "positions.parquet"):
    pos.to_parquet(folder / name, index=False)
    labels.to_csv(folder / "labels.csv", index=False)
    return folder / name, folder / "labels.csv"


def _drop(column: str) -> Callable:
    def write(pos, labels, folder, rng, gaz, cfg):
        return _parquet(pos.drop(columns=[column], errors="ignore"), labels, folder)
    return write


def thin(pos: pd.DataFrame, k: int, cfg: Config = DEFAULT) -> pd.DataFrame:
    """Every ``k``-th fix of each run of short intervals (under ``gap_hours / k``), and each
    run's last: reporting ``k`` times sparser without making a gap that was not there.

    >>> t = pd.to_datetime([0, 60, 120, 180, 240, 7200, 7260], unit="s", utc=True)
    >>> kept = thin(pd.DataFrame({"mmsi": [1] * 7, "timestamp": t}), 2)["timestamp"]
    >>> (kept - kept.iloc[0]).dt.total_seconds().astype(int).tolist()  # the 2 h gap kept: both its ends stay
    [0, 120, 240, 7200, 7260]
    """
    pos = pos.sort_values(["mmsi", "timestamp"], kind="stable").reset_index(drop=True)
    t = pos["timestamp"].to_numpy("datetime64[s]").astype(np.int64)
    m = pos["mmsi"].to_numpy()
    short = np.r_[False, (m[1:] == m[:-1]) & (np.diff(t) < cfg.gap_hours * 3600.0 / k)]
    run = np.cumsum(~short)
    first = np.flatnonzero(~short)
    rank = np.arange(len(t)) - first[run - 1]
    last = np.r_[run[1:] != run[:-1], True]
    return pos[(rank % k == 0) | last].reset_index(drop=True)


def _thin(k: int) -> Callable:
    def write(pos, labels, folder, rng, gaz, cfg):
        return _parquet(thin(pos, k, cfg), labels, folder)
    return write


def _jitter(pos, labels, folder, rng, gaz, cfg):
    out = pos.copy()
    lat = out["lat"].to_numpy(float)
    out["lat"] = lat + rng.normal(0, JITTER_M, len(out)) / 111_000.0
    out["lon"] = out["lon"].to_numpy(float) + rng.normal(0, JITTER_M, len(out)) / (111_000.0 * np.cos(np.radians(lat)))
    return _parquet(out, labels, folder)


def _shift(pos, labels, folder, rng, gaz, cfg):
    out, lab = pos.copy(), labels.copy()
    out["timestamp"] = out["timestamp"] + SHIFT
    for c in ("start", "end"):
        lab[c] = (pd.to_datetime(lab[c], utc=True) + SHIFT).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return _parquet(out, lab, folder)


def retype_destinations(pos: pd.DataFrame, gaz: Gazetteer, rng, cfg: Config = DEFAULT) -> pd.Series:
    """Each ship's destination texts typed again by another crew: the same port(s) in another
    realistic form (spelling, code, truncation, country, padding, typo), a non-port entry in
    another wording, unknown text as it was."""
    from .simulator.feed import FIELD_CHARS, NON_PORT, draw_habits, render
    from .simulator.world import draw_world
    world = draw_world(int(rng.integers(2**31)))
    reader = reader_for(gaz, cfg)
    country = dict(zip(gaz.ids, gaz.ports["country"] if "country" in gaz.ports else [""] * gaz.n))
    text = pos["destination"].astype("object")
    pairs = pd.DataFrame({"mmsi": pos["mmsi"].to_numpy(), "text": text.to_numpy()})
    codes, uniq = pd.factorize(pd.MultiIndex.from_frame(pairs.fillna({"text": "\x00"})))
    habits: dict = {}
    new = []
    for mmsi, t in uniq:
        if t == "\x00":
            new.append(None)
            continue
        h = habits.get(mmsi) or habits.setdefault(mmsi, draw_habits(mmsi, "general_cargo", "", world, world.world_seed))
        r = reader.read(t)
        if r.ports:  # a route's ports each in this crew's form (no previous port: no route form)
            new.append("-".join(render(h, p, country) for p in r.port_ids)[:FIELD_CHARS])
        elif r.kind == "non-port":
            new.append(NON_PORT[h.rng.integers(len(NON_PORT))])
        else:
            new.append(t)
    return pd.Series(np.asarray(new, dtype=object)[codes], index=pos.index, dtype=object)


def _retype(pos, labels, folder, rng, gaz, cfg):
    out = pos.copy()
    out["destination"] = retype_destinations(pos, gaz, rng, cfg)
    return _parquet(out, labels, folder)


# --- the same data in other providers' layouts -------------------------------------------------

def _text(s: pd.Series) -> pd.Series:
    return s.astype("object").where(s.notna(), None)


def _csv(pos, labels, folder, rng, gaz, cfg):
    out = pos.copy()
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.to_csv(folder / "positions.csv", index=False)
    labels.to_csv(folder / "labels.csv", index=False)
    return folder / "positions.csv", folder / "labels.csv"


#: US MarineCadastre's columns for the canonical ones (it has no destination or receiver type).
MARINECADASTRE = {"mmsi": "MMSI", "timestamp": "BaseDateTime", "lat": "LAT", "lon": "LON", "sog": "SOG", "cog": "COG",
                  "heading": "Heading", "name": "VesselName", "imo": "IMO", "callsign": "CallSign",
                  "ship_type": "VesselType", "nav_status": "Status", "draught": "Draft"}
#: Global Fishing Watch's fields for the canonical ones.
GFW = {"mmsi": "ssvid", "timestamp": "timestamp", "lat": "lat", "lon": "lon", "sog": "speed", "cog": "course",
       "heading": "heading", "name": "shipname", "callsign": "callsign", "destination": "destination", "imo": "imo",
       "ship_type": "shiptype", "receiver_type": "receiver_type"}


def _marinecadastre(pos, labels, folder, rng, gaz, cfg):
    out = pos[[c for c in MARINECADASTRE if c in pos]].rename(columns=MARINECADASTRE)
    out["BaseDateTime"] = out["BaseDateTime"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    if "IMO" in out:
        out["IMO"] = ("IMO" + _text(out["IMO"]).astype(str)).where(out["IMO"].notna(), None)
    out.to_csv(folder / "AIS_marinecadastre.csv", index=False)
    labels.to_csv(folder / "labels.csv", index=False)
    return folder / "AIS_marinecadastre.csv", folder / "labels.csv"


def _gfw(pos, labels, folder, rng, gaz, cfg):
    out = pos[[c for c in GFW if c in pos]].rename(columns=GFW)
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = _text(out[c])
    path = folder / "gfw_messages.json"
    out.to_json(path, orient="records", lines=True)
    labels.to_csv(folder / "labels.csv", index=False)
    return path, folder / "labels.csv"


def _nmea(pos, labels, folder, rng, gaz, cfg):
    path = folder / "feed.nmea"
    write_nmea(pos, path)
    labels.to_csv(folder / "labels.csv", index=False)
    return path, folder / "labels.csv"


_SIXBIT = set("@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_ !\"#$%&'()*+,-./0123456789:;<=>?")


def _ais_text(x, n: int) -> str:
    s = "" if x is None or (isinstance(x, float) and np.isnan(x)) else str(x).upper()
    return "".join(c if c in _SIXBIT else " " for c in s)[:n]


def _tag(unix: int) -> str:
    body = f"c:{unix}"
    check = 0
    for ch in body:
        check ^= ord(ch)
    return f"\\{body}*{check:02X}\\"


def write_nmea(pos: pd.DataFrame, path: Path) -> None:
    """The positions as raw NMEA 0183 a receiver writes: a type 1 position report per fix and,
    whenever a ship's static data change (and at its first fix), a type 5 static and voyage
    message, each with a tag block carrying its Unix time. AIS 'not available' values stand
    for missing speeds, courses and headings; text goes through the 6-bit alphabet."""
    from pyais import encode_dict
    p = pos.sort_values(["timestamp", "mmsi"], kind="stable")
    unix = p["timestamp"].to_numpy("datetime64[s]").astype(np.int64)
    cols = {c: (_text(p[c]).to_numpy() if c in p else np.full(len(p), None)) for c in
            ("name", "callsign", "imo", "ship_type", "destination", "draught")}
    num = {c: p[c].to_numpy(float) if c in p else np.full(len(p), np.nan) for c in ("sog", "cog", "heading", "nav_status")}
    last: dict = {}
    with open(path, "w") as f:
        for i, (m, t, lat, lon) in enumerate(zip(p["mmsi"].to_numpy(), unix, p["lat"].to_numpy(float),
                                                  p["lon"].to_numpy(float))):
            static = tuple(cols[c][i] for c in cols)
            if last.get(m) != static and any(x is not None for x in static):
                last[m] = static
                name, call, imo, st, dest, dr = static
                msg = {"msg_type": 5, "mmsi": int(m), "shipname": _ais_text(name, 20), "callsign": _ais_text(call, 7),
                       "imo": int(float(imo)) if imo not in (None, "") and str(imo).replace(".", "").isdigit() else 0,
                       "ship_type": int(float(st)) if st not in (None, "") and str(st).replace(".", "").isdigit() else 0,
                       "destination": _ais_text(dest, 20), "draught": float(dr) if dr is not None else 0.0}
                for s in encode_dict(msg, talker_id="AI", sentence_type="VDM", seq_id=int(i % 10)):
                    f.write(f"{_tag(int(t))}{s}\n")
            sog, cog, hdg, nav = (num[c][i] for c in ("sog", "cog", "heading", "nav_status"))
            msg = {"msg_type": 1, "mmsi": int(m), "lat": float(lat), "lon": float(lon),
                   "speed": min(float(sog), 102.2) if np.isfinite(sog) else 102.3,
                   "course": float(cog) % 360 if np.isfinite(cog) else 360.0,
                   "heading": int(hdg) % 360 if np.isfinite(hdg) else 511,
                   "status": int(nav) if np.isfinite(nav) else 15, "second": int(t % 60)}
            f.write(f"{_tag(int(t))}{encode_dict(msg, talker_id='AI', sentence_type='VDM')[0]}\n")


#: Every change, by name (lookup table): ``drop:<column>`` for each optional column.
VARIANTS: dict[str, Variant] = {
    **{f"drop:{c}": Variant(f"drop:{c}", f"no {c} column", _drop(c)) for c in OPTIONAL},
    "text:retyped": Variant("text:retyped", "destinations typed again by other crews (same ports, other forms)", _retype),
    "thin:2": Variant("thin:2", "every 2nd fix outside gaps", _thin(2)),
    "thin:3": Variant("thin:3", "every 3rd fix outside gaps", _thin(3)),
    "jitter:50m": Variant("jitter:50m", f"positions jittered {JITTER_M:g} m", _jitter),
    "shift:time": Variant("shift:time", "the whole set 371 days 5 h later", _shift),
    "reader:csv": Variant("reader:csv", "through the CSV reader", _csv),
    "reader:marinecadastre": Variant("reader:marinecadastre", "US MarineCadastre layout (no destination)", _marinecadastre),
    "reader:gfw": Variant("reader:gfw", "Global Fishing Watch NDJSON layout", _gfw),
    "reader:nmea": Variant("reader:nmea", "raw NMEA (type 1 and 5 messages, tag-block times)", _nmea),
}


# --- scoring and comparing -----------------------------------------------------------------------

@dataclass
class Scored:
    """One variant's labelled voyages' risks and the vessels' top risks."""
    y: np.ndarray
    risk: np.ndarray
    vessel_risk: pd.Series  # per MMSI, its riskiest voyage


def score_feed(model, positions: Path, labels: Path, cfg: Config = DEFAULT) -> Scored:
    """Read, track, cut and label a feed as training does, and score it with ``model``."""
    from .scenarios import ScenarioInput, scenario_table
    table = scenario_table(ScenarioInput((Path(positions),), Path(labels)), model.gaz, cfg, grid=model.grid)
    v = table.voyages
    risk = model.risk(v) if len(v) else np.zeros(0)
    lab = v["y"].notna().to_numpy()
    return Scored(v.loc[lab, "y"].to_numpy(int), risk[lab], pd.Series(risk).groupby(v["mmsi"].to_numpy()).max())


def compare(base: Scored, other: Scored) -> dict:
    """AP of both, the change, and the Spearman correlation of the vessels' top risks (over
    the vessels both score)."""
    ap0, ap1 = average_precision(base.y, base.risk), average_precision(other.y, other.risk)
    both = base.vessel_risk.index.intersection(other.vessel_risk.index)
    rho = float(spearmanr(base.vessel_risk[both], other.vessel_risk[both]).statistic) if len(both) > 2 else float("nan")
    return {"ap": round(ap1, 4), "ap_change": round(ap1 - ap0, 4), "spearman": round(rho, 4),
            "vessels": int(len(both)), "vessels_lost": int(len(base.vessel_risk) - len(both)),
            "passed": bool(abs(ap1 - ap0) <= MAX_AP_CHANGE and rho >= MIN_SPEARMAN)}


def check(model, positions: pd.DataFrame, labels: pd.DataFrame, folder: Path, names=None, seed: int = 0,
          cfg: Config = DEFAULT, progress=lambda name: None) -> list[dict]:
    """Score the unchanged feed and each variant (``names``: default all); one row per variant
    with :func:`compare`'s figures, the unchanged first."""
    folder = Path(folder)
    rows, base = [], None
    for name in ["unchanged", *(names or VARIANTS)]:
        progress(name)
        sub = folder / name.replace(":", "_")
        sub.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, len(rows)])
        if name == "unchanged":
            paths = _parquet(positions, labels, sub)
        else:
            paths = VARIANTS[name].write(positions, labels, sub, rng, model.gaz, cfg)
        scored = score_feed(model, *paths, cfg=cfg)
        if base is None:
            base = scored
        row = compare(base, scored)
        rows.append({"variant": name, "what": VARIANTS[name].what if name in VARIANTS else "the reference set as it is",
                     **row})
    return rows


def table_markdown(rows: list[dict]) -> str:
    """The rows as the README's table."""
    out = ["| change | AP | AP change | vessel ranks (Spearman) | within the bars |", "|---|---|---|---|---|"]
    out += [f"| {r['what']} | {r['ap']:.3f} | {r['ap_change']:+.3f} | {r['spearman']:.3f} | "
            f"{'yes' if r['passed'] else '**no**'} |" for r in rows]
    return "\n".join(out)
