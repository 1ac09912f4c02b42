"""Evidence cards: one vessel's case on one page, for an editor or a compliance officer
(``darkvoyage card MMSI --out FILE.html|.pdf|.md``, and the desk's "evidence card" button).

A card holds the vessel's identity and standing, the model (name, version, its reference AP)
that scored it, the reasons, a map (track, gaps with the area the ship could reach while dark,
possible dark calls, ports), a timeline of voyages and gaps, the gaps (longest first) each with
Copernicus Browser links set to its window and area (Sentinel-1 radar, which sees ships through
cloud and night, and Sentinel-2 optical) so imagery can be checked, the possible dark calls,
identity links, alerts with their verdicts, where the data came from (files, rows, receivers),
and a plain statement that it is a lead for investigation, not a finding.
"""

from __future__ import annotations

import html
import math
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from .config import DEFAULT_DESK, DeskConfig
from .models import Ingest, Run, Vessel
from .queries import vessel_and_rows
from .store import Store, StoreError

DISCLAIMER = ("This card is a lead for investigation, not a finding. It rests on AIS messages, which can be "
              "missing, delayed or falsified, and on a statistical model that ranks voyages by how much they "
              "resemble suspicious ones; a high risk is a reason to look, not proof of wrongdoing. Check the "
              "imagery and other sources before drawing any conclusion.")
CARD_SUFFIXES = (".html", ".pdf", ".md")
#: Copernicus Browser datasets: Sentinel-1 radar (ships show through cloud and night), Sentinel-2 optical.
IMAGERY = {"Sentinel-1 radar": "S1_CDAS_IW_VVVH", "Sentinel-2 optical": "S2_L2A_CDAS"}


def copernicus_link(dataset: str, lat: float, lon: float, t0: pd.Timestamp, t1: pd.Timestamp, radius_km: float) -> str:
    """A Copernicus Browser link centred on (lat, lon), zoomed to show ``radius_km`` around it,
    its time window ``t0``..``t1`` (UTC).

    >>> copernicus_link("S2_L2A_CDAS", 37.47, 49.46, pd.Timestamp("2024-10-01T02:00Z"), pd.Timestamp("2024-10-01T09:00Z"), 40)[:60]
    'https://browser.dataspace.copernicus.eu/?zoom=8&lat=37.47000'
    """
    zoom = int(min(max(round(math.log2(40_000 / max(radius_km * 4, 1.0))), 5), 14))
    stamp = lambda t: quote(pd.Timestamp(t).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.000Z"))  # noqa: E731
    return (f"https://browser.dataspace.copernicus.eu/?zoom={zoom}&lat={lat:.5f}&lng={lon:.5f}&themeId=DEFAULT-THEME"
            f"&datasetId={dataset}&fromTime={stamp(t0)}&toTime={stamp(t1)}")


def card_data(store: Store, mmsi: int, cfg: DeskConfig = DEFAULT_DESK) -> dict:
    """Everything a card shows, as plain data."""
    v, mine = vessel_and_rows(store, mmsi)  # the map's rows are the provenance's
    with Session(store.engine) as s:
        run = s.get(Run, s.get(Vessel, mmsi).run_id)
        files = dict(s.execute(select(Ingest.path, Ingest.digest)).all())
    ev = pd.DataFrame(v["events"])
    gaps = ev[ev["kind"] == "gap"].sort_values("hours", ascending=False).head(cfg.card_gaps) if len(ev) else ev
    return {"vessel": v, "model": {"name": run.model_name, "version": run.model_version, "uri": run.model_uri,
                                   "reference_ap": run.reference_ap, "run": run.id, "scored_at": run.started_at},
            "gaps": [_gap(g, cfg) for g in gaps.to_dict("records")],
            "dark_calls": [e for e in v["events"] if e["kind"] == "possible_dark_port_call"],
            "provenance": _provenance(mine, files), "disclaimer": DISCLAIMER}


def _gap(g: dict, cfg: DeskConfig) -> dict:
    """A gap with the area the ship could reach while dark: the ellipse with its ends as foci
    and ``card_reach_kn`` x hours as the longest path (its centre and half-axes, km)."""
    chord = _km(g["lat"], g["lon"], g["end_lat"], g["end_lon"])
    path = max(cfg.card_reach_kn * 1.852 * (g["hours"] or 0.0), chord)
    a, b = path / 2, math.sqrt(max((path / 2) ** 2 - (chord / 2) ** 2, 0.0))
    lat, lon = (g["lat"] + g["end_lat"]) / 2, (g["lon"] + g["end_lon"]) / 2
    t0, t1 = pd.Timestamp(g["start"]), pd.Timestamp(g["end"])
    return {**g, "centre": [lat, lon], "reach_km": [a, b],
            "links": {name: copernicus_link(ds, lat, lon, t0, t1, a) for name, ds in IMAGERY.items()}}


def _km(lat0, lon0, lat1, lon1) -> float:
    from features.geo import haversine_km
    return float(haversine_km(lat0, lon0, lat1, lon1))


def _provenance(mine: pd.DataFrame, digests: dict) -> dict:
    if not len(mine):
        return {"files": [], "rows": 0, "receivers": {}}
    per_file = mine["_file"].astype(str).value_counts() if "_file" in mine else pd.Series(dtype=int)
    rec = mine["receiver_type"].astype(str).value_counts().to_dict() if "receiver_type" in mine else {}
    return {"rows": int(len(mine)), "receivers": {str(k): int(n) for k, n in rec.items()},
            "first": str(pd.to_datetime(mine["timestamp"], utc=True).min()),
            "last": str(pd.to_datetime(mine["timestamp"], utc=True).max()),
            "files": [{"file": f, "rows": int(n), "sha256": next((d for p, d in digests.items() if p.endswith(f)), "")}
                      for f, n in per_file.items()]}


def check_card_output(out: Path) -> None:
    """Refuse an output a card cannot be written to, before any work."""
    out = Path(out)
    if out.suffix.lower() not in CARD_SUFFIXES:
        raise StoreError(f"{out}: a card is .html, .pdf or .md")
    if not out.parent.is_dir():
        raise StoreError(f"{out.parent}: output folder does not exist")


def write_card(store: Store, mmsi: int, out: Path) -> Path:
    """The card of ``mmsi`` to ``out`` (.html, .md, or .pdf printed by headless Chromium)."""
    out = Path(out)
    check_card_output(out)
    from .card_render import card_html, card_markdown
    data = card_data(store, mmsi)
    if out.suffix.lower() == ".md":
        out.write_text(card_markdown(data), encoding="utf-8")
    elif out.suffix.lower() == ".html":
        out.write_text(card_html(data), encoding="utf-8")
    else:
        _print_pdf(card_html(data), out)
    return out


def _print_pdf(page: str, out: Path) -> None:
    import os
    import shutil
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise StoreError("a PDF card is printed by Chromium: install Debian's chromium (or write .html)")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "card.html"
        src.write_text(page, encoding="utf-8")
        flags = ["--headless", "--disable-gpu", "--no-pdf-header-footer", f"--user-data-dir={tmp}/profile",
                 f"--print-to-pdf={out.resolve()}"] + (["--no-sandbox"] if os.geteuid() == 0 else [])
        r = subprocess.run([exe, *flags, src.as_uri()], capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        raise StoreError(f"Chromium could not print {out} ({r.stderr.strip().splitlines()[-1:] or r.returncode})")


def escape(x) -> str:
    return html.escape("" if x is None else str(x))
