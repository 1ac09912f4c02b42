"""The voyage-risk REST service (BentoML, new-style class service).

Routes (contract section 5): ``POST /score``, ``POST /score_voyages`` (adaptive batching),
``POST /watchlist`` (file upload), ``GET /model``; BentoML's ``/readyz``, ``/livez``,
``/metrics`` and the OpenAPI document stay as they are. The model comes from the MLflow
registry: ``DARKVOYAGE_MODEL_URI`` (default ``models:/voyage-risk@champion``) in the store of
``MLFLOW_TRACKING_URI`` (default ``mlruns/``). When ``DARKVOYAGE_API_KEY`` is set, every
scoring route wants it in the ``x-api-key`` header.
"""

from __future__ import annotations

import json
import logging
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import bentoml
import numpy as np
import pandas as pd
from bentoml.exceptions import InvalidArgument
from pydantic import BaseModel, ConfigDict, Field, create_model

from features.settings import settings
from features.catalogue import FEATURE_NAMES

log = logging.getLogger("darkvoyage.service")

#: Largest track one /score request may carry: a month of fixes every minute is ~45 k.
MAX_POSITIONS = 50_000
#: Largest request body (an uploaded positions file for /watchlist).
MAX_BODY_MB = settings().max_upload_mb
#: Largest batch /score_voyages takes in one request.
MAX_VOYAGES = 10_000
REQUIRED_FIELDS = ("timestamp", "lat", "lon")
PROTECTED = ("/score", "/score_voyages", "/watchlist", "/model")
MODEL_INFO: dict = {}


class Position(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timestamp: datetime = Field(description="ISO 8601; without a zone it is UTC")
    lat: float = Field(ge=-90, le=90, description="degrees")
    lon: float = Field(ge=-180, le=180, description="degrees")
    sog: Optional[float] = Field(None, ge=0, le=102.3, description="knots")
    cog: Optional[float] = Field(None, ge=0, le=360, description="degrees")
    heading: Optional[float] = Field(None, ge=0, le=511)
    nav_status: Optional[int] = Field(None, ge=0, le=15)
    destination: Optional[str] = Field(None, max_length=120)
    name: Optional[str] = Field(None, max_length=120)
    imo: Optional[str] = Field(None, max_length=20)
    callsign: Optional[str] = Field(None, max_length=20)
    ship_type: Optional[str] = Field(None, max_length=60)
    draught: Optional[float] = Field(None, ge=0, le=30)


class TrackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mmsi: int = Field(ge=200_000_000, le=799_999_999, description="a ship-station MMSI")
    positions: list[Position] = Field(min_length=1, max_length=MAX_POSITIONS)


VoyageRow = create_model(
    "VoyageRow", __config__=ConfigDict(extra="allow"),
    **{name: (Optional[float], Field(..., description="see docs/features.md")) for name in FEATURE_NAMES})


def _bad(field: str, problem: str) -> InvalidArgument:
    return InvalidArgument(json.dumps({"error": "bad request", "field": field, "problem": problem}))


def _jsonable(v):
    if v is pd.NaT:  # a datetime to isinstance, but no time: null
        return None
    if isinstance(v, (pd.Timestamp, datetime)):
        return pd.Timestamp(v).isoformat()
    if isinstance(v, (np.floating, float)):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if v is None or (not isinstance(v, (list, dict, str)) and pd.isna(v)):
        return None
    return v


class _ClientErrorsAreNotServerErrors(logging.Filter):
    """BentoML logs a full traceback for every request it rejects (bad JSON, a failed field
    check). Those are the client's 4xx, already in the access log: one line per request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.getMessage().startswith("Exception on "):
            from bentoml.exceptions import BentoMLException
            from pydantic import ValidationError
            err = record.exc_info[1]
            if isinstance(err, ValidationError):
                return False
            if isinstance(err, BentoMLException) and 400 <= int(err.error_code) < 500:
                return False
        return True


logging.getLogger("bentoml._internal.server.http_app").addFilter(_ClientErrorsAreNotServerErrors())


class Gate:
    """ASGI middleware: API key on the scoring routes, a body-size limit, and GET /model."""

    def __init__(self, app, **_):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"].rstrip("/") or "/", scope["method"]
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        if path in PROTECTED:
            key = settings().api_key
            if key and headers.get("x-api-key") != key:
                return await _send(send, 401, {"error": "unauthorized", "field": "x-api-key",
                                               "problem": "missing or wrong API key"})
            size = headers.get("content-length")
            if size and size.isdigit() and int(size) > MAX_BODY_MB * 1e6:
                return await _send(send, 413, {"error": "request too large", "field": "body",
                                               "problem": f"over {MAX_BODY_MB:g} MB"})
        if path == "/model":
            if method != "GET":
                return await _send(send, 405, {"error": "method not allowed", "field": "method", "problem": "use GET"})
            return await _send(send, 200, MODEL_INFO)
        return await self.app(scope, receive, send)


async def _send(send, status: int, body: dict):
    data = json.dumps(body, default=_jsonable).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


@bentoml.service(name="darkvoyage", workers=1, traffic={"timeout": 300})
class VoyageRisk:
    def __init__(self) -> None:
        from training.registry import load_model
        self.model, info = load_model(settings().model_uri or None)
        MODEL_INFO.clear()
        MODEL_INFO.update(info)
        log.info("serving %s v%s", info["name"], info["version"])
        # Everything loaded so far lives as long as the server: keep it out of the cyclic
        # collector, whose full passes over MLflow, pandas and the model otherwise cost
        # ~200 ms tail latencies.
        import gc
        gc.collect()
        gc.freeze()

    def _voyages_json(self, v: pd.DataFrame) -> list[dict]:
        out = []
        for r in v.itertuples(index=False):
            out.append({"voyage_id": r.voyage_id, "start": _jsonable(r.start), "end": _jsonable(r.end),
                        "origin_port": _jsonable(r.origin_port), "destination_port": _jsonable(r.destination_port),
                        "risk": float(r.risk), "level": r.level, "partial": r.partial,
                        "reasons": [{k: _jsonable(x) for k, x in d.items()} for d in r.reasons]})
        return out

    @bentoml.api(route="/score", input_spec=TrackIn)
    def score(self, mmsi: int, positions: list[Position]) -> dict[str, Any]:
        """One vessel's positions -> per-voyage risk, level and reasons, and the vessel's risk."""
        from features.no_voyage import NO_VOYAGE_REASON
        from serving.scoring import score_frame
        # Columns straight from the attributes: model_dump() per position costs ~5 us each.
        cols = {f: [getattr(p, f) for p in positions] for f in Position.model_fields}
        frame = pd.DataFrame({"mmsi": mmsi, **{f: v for f, v in cols.items()
                                               if f in REQUIRED_FIELDS or any(x is not None for x in v)}})
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        try:
            sc = score_frame(frame, self.model)
        except ValueError as err:
            raise _bad("positions", str(err)) from None
        v = sc.voyages
        if len(v):
            risk, reason = float(v["risk"].max()), None
        else:
            # No voyage is no evidence, not low risk: risk null, level "insufficient data".
            risk = None
            reason = ("; ".join(dict.fromkeys(sc.no_voyage["reasons_text"])) if sc.no_voyage is not None
                      and len(sc.no_voyage) else f"{NO_VOYAGE_REASON}: no position was accepted")
        return {"mmsi": mmsi, "model_version": MODEL_INFO.get("version"), "risk": risk,
                "level": str(self.model.level([np.nan if risk is None else risk])[0]), "reason": reason,
                "rows": sc.tracks.counts.to_dict(), "voyages": self._voyages_json(v)}

    @bentoml.api(route="/score_voyages", batchable=True, max_batch_size=MAX_VOYAGES, max_latency_ms=1000)
    def score_voyages(self, voyages: list[VoyageRow]) -> list[dict[str, Any]]:
        """Feature rows (as ``darkvoyage features`` writes them) -> risk and level per row."""
        frame = pd.DataFrame([r.model_dump() for r in voyages])
        risk = self.model.risk(frame)
        level = self.model.level(risk)
        ids = frame["voyage_id"].tolist() if "voyage_id" in frame else [None] * len(frame)
        return [{"voyage_id": i, "risk": float(r), "level": str(lv)} for i, r, lv in zip(ids, risk, level)]

    @bentoml.api(route="/watchlist")
    def watchlist(self, file: Path, top: int = 50, suffix: str = "") -> dict[str, Any]:
        """An uploaded positions file (CSV, Parquet, NDJSON, NMEA) -> the ranked watchlist."""
        from features.readers import InputError
        from serving.scoring import score_files, watchlist as ranked
        if not 1 <= top <= 10_000:
            raise _bad("top", "must be between 1 and 10000")
        src = Path(file)
        with tempfile.TemporaryDirectory() as tmp:
            # Keep the uploaded name's suffix so the reader knows the format; else it sniffs.
            name = Path(tmp) / ("upload" + (suffix or "".join(Path(getattr(file, "name", src.name)).suffixes[-2:])))
            name.write_bytes(src.read_bytes())
            try:
                sc = score_files([name], self.model)
            except (InputError, ValueError) as err:
                raise _bad("file", str(err).replace(str(name), "upload")) from None
        wl = ranked(sc.voyages, top, sc.no_voyage)
        rows = [{k: _jsonable(x) for k, x in r.items()} for r in wl.to_dict("records")]
        return {"model_version": MODEL_INFO.get("version"), "rows": sc.tracks.counts.to_dict(), "watchlist": rows}


VoyageRisk.add_asgi_middleware(Gate)
