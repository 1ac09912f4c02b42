"""NMEA as receivers and providers write it (issue #15): tag blocks on their own line,
several sentences on one line, ``g:`` groups, ``c:`` in seconds or milliseconds, a Unix time
after the checksum (USCG NAIS), non-AIS sentences. A row is one AIS message."""

from __future__ import annotations

from functools import reduce

import pandas as pd

from features import schema as S
from features.clean import validate
from features.nmea import epoch_seconds, parse_tag_block, split_sentence
from features.readers import read_one

T = 1709251200  # 2024-03-01T00:00:00Z
POS = "1,1,,A,144N8P0P1V3Phi0J2@`725b1P000,0"       # type 1, MMSI 273123456, 45.5 N
STATIC_1 = "544N8P02;=`1D8<CL01HthL61@E=@00000000016000000000;@Dm4PBj0CP,0"
STATIC_2 = "00000000000,2"                            # type 5 "VOLGA TEST" to ASTRAKHAN


def chk(body: str) -> str:
    return f"{reduce(lambda a, c: a ^ ord(c), body, 0):02X}"


def sentence(fields: str, talker: str = "AIVDO") -> str:
    body = f"{talker},{fields}"
    return f"!{body}*{chk(body)}"


def tag(fields: str, checksum: str | None = None) -> str:
    return f"\\{fields}*{checksum or chk(fields)}\\"


def read(tmp_path, *lines: str):
    p = tmp_path / "feed.nmea"
    p.write_text("\n".join(lines) + "\n")
    r = read_one(p)
    return r, validate(r.frame)


def test_tag_block_on_its_own_line_belongs_to_the_next_sentence(tmp_path):
    """Issue #15: the Danish stream's ``\\si:AISD*3F\\`` lines were each an unparseable row."""
    r, f = read(tmp_path, tag(f"s:station1,c:{T}"), sentence(POS))
    assert r.n_read == 1 and len(r.unparseable) == 0
    row = f.iloc[0]
    assert row["timestamp"] == pd.Timestamp(T, unit="s", tz="UTC")
    assert row["source"] == "station1" and row[S.LINE_COL] == 2  # the sentence's line


def test_dma_three_line_layout_tag_pghp_sentence(tmp_path):
    r, f = read(tmp_path, "\\si:AISD*3F\\", "$PGHP,1,2024,3,1,0,5,0,0,219,1,992190934,1,2B*5B", sentence(POS),
                "\\si:IALA*25\\", "$PGHP,1,2024,3,1,0,6,0,0,219,1,992190934,1,2B*58", sentence(POS))
    assert r.n_read == 2 and len(r.unparseable) == 0
    assert list(f["source"]) == ["AISD", "IALA"] and list(f[S.LINE_COL]) == [3, 6]
    assert list(f["timestamp"]) == [pd.Timestamp("2024-03-01T00:05:00Z"), pd.Timestamp("2024-03-01T00:06:00Z")]


def test_dangling_tag_blocks_are_unparseable_rows(tmp_path):
    r, f = read(tmp_path, tag("s:a,c:1"), tag(f"s:b,c:{T}"), sentence(POS), tag("s:c"))
    assert r.n_read == 3 and len(f) == 1 and f["source"].iloc[0] == "b"
    assert list(r.unparseable[S.DETAIL_COL]) == ["tag block without a sentence"] * 2
    assert list(r.unparseable[S.LINE_COL]) == [1, 4]


def test_both_parts_of_a_multipart_message_on_one_line(tmp_path):
    """Issue #15: Spire-style lines with both parts were rejected whole."""
    line = (tag(f"c:{T},s:FM112", "00") + sentence(f"2,1,1,A,{STATIC_1}")
            + tag(f"c:{T},s:FM112", "00") + sentence(f"2,2,1,A,{STATIC_2}"))
    r, f = read(tmp_path, line)
    assert r.n_read == 1 and len(r.unparseable) == 0
    row = f.iloc[0]
    assert row["name"] == "VOLGA TEST" and row["destination"] == "ASTRAKHAN" and row[S.STATIC_COL]
    assert row["timestamp"] == pd.Timestamp(T, unit="s", tz="UTC")


def test_g_groups_tie_parts_without_a_sequence_id(tmp_path):
    r, f = read(tmp_path,
                tag(f"g:1-2-77,s:sat,c:{T * 1000}") + sentence(f"2,1,,A,{STATIC_1}"),
                tag("g:1-2-78,s:sat,c:1") + sentence(f"2,1,,A,{STATIC_1}"),   # never completed
                tag("g:2-2-77") + sentence(f"2,2,,A,{STATIC_2}"))
    assert r.n_read == 2
    assert f["name"].iloc[0] == "VOLGA TEST" and f[S.LINE_COL].iloc[0] == 1
    assert f["timestamp"].iloc[0] == pd.Timestamp(T, unit="s", tz="UTC")  # c: in milliseconds
    assert list(r.unparseable[S.DETAIL_COL]) == ["incomplete multi-part message"]


def test_unix_time_after_the_checksum_nais(tmp_path):
    r, f = read(tmp_path, sentence(POS) + f",rUSCG-1,{T}", sentence(POS) + f",{T + 60}", sentence(POS) + "'")
    assert r.n_read == 3 and len(r.unparseable) == 0  # the checksum is checked on the sentence alone
    assert list(f["timestamp"].iloc[:2]) == [pd.Timestamp(T, unit="s", tz="UTC"), pd.Timestamp(T + 60, unit="s", tz="UTC")]
    assert pd.isna(f["timestamp"].iloc[2])


def test_non_ais_sentences_and_junk(tmp_path):
    body = "PSTT,30A,20131112,120000"
    r, f = read(tmp_path, f"${body}*{chk(body)}", "$PSTT,30A,20131112,120000*00", "no sentence here",
                sentence(POS).replace("*", "0*"))
    assert r.n_read == 4
    assert list(f[S.REASON_COL].astype(str)) == [S.NOT_VESSEL]
    assert f[S.DETAIL_COL].iloc[0] == "NMEA sentence PSTT (not AIS)"
    assert sorted(r.unparseable[S.DETAIL_COL]) == ["checksum mismatch"] + ["not an NMEA AIS sentence"] * 2


def test_far_times_are_kept_for_validation_to_reject(tmp_path):
    r, f = read(tmp_path, tag("c:0") + sentence(POS), tag("c:253402214400") + sentence(POS))  # 1970, 9999
    assert r.n_read == 2
    assert list(f[S.REASON_COL].astype(str)) == [S.TIMESTAMP_RANGE] * 2


def test_helpers():
    assert parse_tag_block("s:rORBCOMM000,q:u,c:1411920600*37") == {"s": "rORBCOMM000", "q": "u", "c": "1411920600"}
    assert parse_tag_block("g:1-2--001,c:1326055296*3C")["g"] == "1-2--001"
    assert epoch_seconds("1599239526500") == 1599239526.5 and epoch_seconds("x") is None and epoch_seconds(None) is None
    assert split_sentence("!AIVDM,1,1,,A,abc,0*11,r003669945,1241544035") == ("!AIVDM,1,1,,A,abc,0*11", 1241544035.0)
    assert split_sentence("!AIVDM,1,1,,A,abc,0*11'") == ("!AIVDM,1,1,,A,abc,0*11", None)


def test_tag_blocks_on_one_line_merge_and_a_trailing_one_waits(tmp_path):
    r, f = read(tmp_path, tag("s:a") + tag(f"c:{T}"), sentence(POS) + tag("s:next,c:1709251260"), sentence(POS))
    assert r.n_read == 2 and len(r.unparseable) == 0
    assert list(f["source"]) == ["a", "next"]
    assert list(f["timestamp"]) == [pd.Timestamp(T, unit="s", tz="UTC"), pd.Timestamp(T + 60, unit="s", tz="UTC")]
