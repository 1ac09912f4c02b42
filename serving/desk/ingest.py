"""Adding input files to the store: each file once (by the SHA-256 of its bytes), its rows read
and validated as every command does, the valid ones kept by UTC day, the others returned with
their reasons and counted on the file's record."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from features import schema as S
from features.clean import validate
from features.config import Config
from features.pipeline import RowCounts
from features.readers import read_inputs

from .models import Ingest, PositionBlock, Run
from .store import StoreError, encode, position_blocks

#: The columns a block keeps: the canonical ones and where each row came from.
KEPT = (*S.CANONICAL, S.FILE_COL, S.LINE_COL)


@dataclass
class Added:
    """What a run's inputs brought: the MMSIs with new rows, the newest UTC day, the rows'
    accounting, the rejected rows (with ``_reason``) and the files already in the store."""
    touched: set[int] = field(default_factory=set)
    last_day: int = -1
    counts: RowCounts = field(default_factory=RowCounts)
    rejected: list[pd.DataFrame] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    first_time: pd.Timestamp | None = None
    #: The new fixes' (lat, lon), at most :data:`SAMPLE_FIXES` a file at even steps: enough to
    #: tell a feed mostly outside the gazetteer's sea, without holding a month of rows.
    sample: list[np.ndarray] = field(default_factory=list)


#: Fixes per added file kept in :attr:`Added.sample` (the gazetteer reads at most 10,000 too).
SAMPLE_FIXES = 10_000


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ingest(session: Session, run: Run, paths, cfg: Config) -> Added:
    """Add each file not yet in the store (a file given twice, or added by an earlier run, adds
    nothing); returns what they brought."""
    out = Added()
    seen = set(session.scalars(select(Ingest.digest)).all())
    for p in map(Path, paths):
        if not p.is_file():
            raise StoreError(f"{p}: no such file (watch adds files)")
        digest = file_digest(p)
        if digest in seen:
            out.skipped.append(str(p))
            continue
        seen.add(digest)
        _add_file(session, run, p, digest, cfg, out)
        out.added.append(str(p))
    return out


def _add_file(session: Session, run: Run, path: Path, digest: str, cfg: Config, out: Added) -> None:
    raw = read_inputs([path])
    rows = validate(raw.frame, cfg)
    ok = rows[S.REASON_COL].isna().to_numpy()
    kept = rows.loc[ok, [c for c in KEPT if c in rows.columns]].reset_index(drop=True)
    static = rows.loc[ok, S.STATIC_COL].to_numpy(bool)
    bad = pd.concat([x for x in (raw.unparseable, rows[~ok]) if len(x)] or [raw.unparseable], ignore_index=True)
    reasons = {str(k): int(v) for k, v in bad[S.REASON_COL].astype("str").value_counts().items()} if len(bad) else {}
    times = kept["timestamp"][~static]
    rec = Ingest(digest=digest, path=str(path), run_id=run.id, added_at=datetime.now(UTC),
                 rows_read=raw.n_read, rows_kept=int(ok.sum()), rows_rejected=len(bad),
                 rejected_reasons=json.dumps(reasons), first_time=_py(times.min()) if len(times) else None,
                 last_time=_py(times.max()) if len(times) else None)
    session.add(rec)
    session.flush()
    blocks = position_blocks(kept)
    session.add_all([PositionBlock(ingest_id=rec.id, day=day, n_rows=len(b), data=encode(b)) for day, b in blocks])
    out.touched |= set(kept["mmsi"].to_numpy(np.int64)[~static].tolist())
    fixes = kept.loc[~static, ["lat", "lon"]].to_numpy(float)
    out.sample.append(fixes[::max(len(fixes) // SAMPLE_FIXES, 1)])
    out.last_day = max([out.last_day] + [d for d, _ in blocks])
    if len(times) and (out.first_time is None or times.min() < out.first_time):
        out.first_time = times.min()
    out.rejected.append(bad)
    c = out.counts
    merged = dict(c.rejected)
    for k, v in reasons.items():
        merged[k] = merged.get(k, 0) + v
    out.counts = RowCounts(read=c.read + raw.n_read, positions=c.positions + int((~static).sum()),
                           static=c.static + int(static.sum()), rejected=merged, re_decoded=c.re_decoded + raw.re_decoded)


def _py(ts) -> datetime:
    return pd.Timestamp(ts).to_pydatetime()
