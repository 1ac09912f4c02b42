"""The destination reader (``features/destinations.py``) on text as crews type it, and what the
voyage table makes of it: known ports named, or unknown, never a mismatch by default."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.config import DEFAULT
from features.destinations import EMPTY, NON_PORT, UNKNOWN, DestinationReader, normalise, reader_for
from features.gazetteer import load_gazetteer

from ..conftest import REAL
from ..helpers import T0, chain, end_of, sail, stay, write_csv

CASPIAN = Path(__file__).resolve().parents[1] / "data" / "destinations_caspian.csv"
ANZALI = (37.4667, 49.4667)


@pytest.fixture(scope="module")
def reader(gaz):
    return reader_for(gaz)


def test_caspian_destinations_in_real_typing_habits(reader):
    """150 texts in the habits of the real NMEA's 349 destination fields (spellings,
    transliterations, UN/LOCODEs with and without the space, truncations, typos, routes,
    countries, AIS padding, orders, sea areas, offshore fields, placeholders): each names
    exactly the ports it should, or none."""
    table = pd.read_csv(CASPIAN, dtype=str, keep_default_na=False)
    assert len(table) >= 100
    got = ["|".join(sorted(reader.read(t).port_ids)) for t in table["text"]]
    wrong = [(t, g, w, h) for t, g, w, h in zip(table["text"], got, table["ports"], table["habit"]) if g != w]
    assert not wrong, wrong
    assert (table["ports"] != "").sum() >= 100 and (table["ports"] == "").sum() >= 25


def test_no_real_destination_names_a_caspian_port(reader):
    """Every distinct destination field of the real files (Danish, global) names no Caspian
    port: near spellings and truncations do not invent one ('ALAO' is not Alat, 'PORTBURY'
    not Port Kuryk)."""
    from features.readers import read_inputs
    files = sorted((REAL / "nmea").glob("*.txt*")) + sorted((REAL / "gfw_gpsdio_segment").glob("*/*.json"))
    texts = sorted(set(read_inputs(files).frame["destination"].dropna().astype(str)))
    assert len(texts) >= 300
    named = {t: reader.read(t).port_ids for t in texts if reader.read(t).ports}
    assert named == {}
    kinds = pd.Series([reader.read(t).kind for t in texts]).value_counts()
    assert kinds.get(NON_PORT, 0) >= 20  # FOR ORDER, FISHING GROUNDS, SEA TRIAL, HOME, phone numbers


@pytest.mark.parametrize("text, kind", [("FOR ORDERS", NON_PORT), ("SKAGEN FOR ORDER", NON_PORT),
                                        ("TLF +4721549177", NON_PORT), ("SKAW", UNKNOWN), ("", EMPTY),
                                        (None, EMPTY), ("@@@@@@@@", EMPTY), (float("nan"), EMPTY)])
def test_kinds_of_text_that_name_no_port(reader, text, kind):
    r = reader.read(text)
    assert r.ports == () and r.kind == kind


def test_thresholds_come_from_the_config(gaz):
    strict = reader_for(gaz, DEFAULT.with_(dest_fuzzy_min_score=95.0, dest_prefix_min_share=1.0))
    assert strict.read("AKTAO").ports == () and strict.read("MAKHACH").ports == ()
    assert reader_for(gaz).read("AKTAO").port_ids == ("KZAAU",)
    assert reader_for(gaz) is reader_for(gaz)  # one alias index per gazetteer and thresholds


def test_a_gazetteer_without_aliases_reads_names_and_ids(tmp_path):
    ports = pd.DataFrame({"port_id": ["XXAAA", "XX-B"], "name": ["Alpha (old harbour)", "Beta Bay / Gamma"],
                          "lat": [40.0, 41.0], "lon": [50.0, 51.0], "radius_km": [5, 5], "sensitive": ["no", "yes"]})
    ports.to_csv(tmp_path / "g.csv", index=False)
    r = DestinationReader(load_gazetteer(tmp_path / "g.csv"))
    assert r.read("ALPHA").port_ids == ("XXAAA",) and r.read("XX AAA").port_ids == ("XXAAA",)
    assert r.read("GAMMA").port_ids == ("XX-B",) and r.read("BETA BAY").port_ids == ("XX-B",)
    assert r.read("OLD HARBOUR").ports == ()  # a qualifier in brackets is no name


def test_normalise_is_idempotent():
    for t in ("Thyb0roen@@", "ST.PETERBURG,  RUSSIA", "alat - aktau - alat", "@@"):
        assert normalise(normalise(t)) == normalise(t)


def _anzali_call(mmsi: int, declared: str | None) -> list[pd.DataFrame]:
    leg = sail(mmsi, T0, [(38.6, 50.0), (37.56, 49.47), ANZALI], every_min=2)
    berth = stay(mmsi, end_of(leg) + pd.Timedelta(minutes=3), *ANZALI, hours=12)
    if declared is None:
        return [leg, berth]
    static = pd.DataFrame({"mmsi": [mmsi], "timestamp": [T0 - pd.Timedelta(hours=1)],
                           "lat": [np.nan], "lon": [np.nan], "destination": [declared]})
    return [static, leg, berth]


def test_voyages_read_their_text_as_the_port_reached_another_port_or_unknown(tmp_path):
    """Five voyages to Bandar-e Anzali: a spelling of it, its code with AIS padding,
    another known port, orders pending, a sea area. Only the other port is a mismatch."""
    from features.engine import LocalEngine
    texts = {273000101: "BANDAR-E ANZALI", 273000102: "IRBAZ@@@@", 273000103: "AKTAU",
             273000104: "FOR ORDERS", 273000105: "CASPIAN SEA", 273000106: None}
    path = write_csv(chain(*[f for m, t in texts.items() for f in _anzali_call(m, t)]), tmp_path / "in.csv")
    v = LocalEngine().features([path]).voyages.set_index("mmsi")
    assert (v["destination_port"] == "IRBAZ").all()
    assert v.loc[273000101, "dest_declared_mismatch"] == 0 and v.loc[273000102, "dest_declared_mismatch"] == 0
    assert v.loc[273000103, "dest_declared_mismatch"] == 1
    for m in (273000104, 273000105, 273000106):
        for f in ("dest_declared_mismatch", "dest_declared_is_origin", "trip_decl_mismatch"):
            assert math.isnan(v.loc[m, f]), (m, f)
    assert v["declared_reading"].to_dict() == {273000101: "reached", 273000102: "reached", 273000103: "other port",
                                               273000104: "unknown", 273000105: "unknown", 273000106: "unknown"}
    assert v.loc[273000103, "declared_ports"] == "KZAAU" and pd.isna(v.loc[273000104, "declared_ports"])
    assert v.loc[273000102, "declared_destination"] == "IRBAZ@@@@"  # shown as typed
