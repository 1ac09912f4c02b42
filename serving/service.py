"""The voyage-risk REST service (BentoML, new-style class service).

Routes (contract section 5): ``POST /score``, ``POST /score_voyages`` (adaptive batching),
``POST /watchlist`` (file upload), ``GET /model``; BentoML's ``/readyz``, ``/livez``,
``/metrics`` and the OpenAPI document stay as they are. The model comes from the MLflow
registry: ``DARKVOYAGE_MODEL_URI`` (default ``models:/voyage-risk@champion``) in the store of
``MLFLOW_TRACKING_URI`` (default ``mlruns/``). When ``DARKVOYAGE_API_KEY`` is set, every
scoring route wants it in the ``x-api-key`` header.

Hostile input never reaches BentoML's parsers unchecked: the :class:`Gate` middleware reads
every request body itself (counting bytes, chunked or not), refuses content types the route
does not take, inflates gzip with a cap, checks a multipart upload parses, and reshapes every
4xx into one JSON body ``{error, field, problem}``. Request models use strict types, so a
string where the schema says number is a 400 naming the field, before any batching.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
import bentoml
import numpy as np
import pandas as pd
from bentoml.exceptions import InvalidArgument
from pydantic import Field
from starlette.responses import Response

from features.settings import settings
from serving.http_gate import (
    MODEL_INFO,
    Gate,
    Refused,
    as_http_error,
    check_parquet_size,
    inflate,
    jsonable,
    limit_bytes,
)
from serving.request_models import BATCH_QUEUE_LIMIT_MS, MAX_VOYAGES, SUFFIXES, Position, TrackIn, VoyageRow, track_frame

if TYPE_CHECKING:  # the scoring modules load with the model, in the service's __init__
    from serving.scoring import Assessment

log = logging.getLogger("darkvoyage.service")


#: Tracks of up to this many positions are scored on the event loop (7-9 ms for 1,000, ~20 ms
#: for 5,000 here); longer ones in a worker thread, so the server keeps answering meanwhile.
#: Handing a short track to a thread costs more than scoring it: ~1.3 ms of a ~12 ms request
#: went to the two threads passing the GIL back and forth.
INLINE_POSITIONS = 5_000


def _bad(field: str, problem: str) -> InvalidArgument:
    return InvalidArgument(json.dumps({"error": "bad request", "field": field, "problem": problem}))


@bentoml.service(name="darkvoyage", workers=1, traffic={"timeout": 300})
class VoyageRisk:
    def __init__(self) -> None:
        from features.settings import apply_numpy_memory
        from training.registry import load_model
        apply_numpy_memory()  # also when started by `bentoml serve`, not by `darkvoyage serve`
        self.model, info = load_model(settings().model_uri or None)
        MODEL_INFO.clear()
        MODEL_INFO.update(info)
        log.info("serving %s v%s", info["name"], info["version"])
        #: The model's features a /score_voyages row carries (each is a field of VoyageRow).
        self.row_features = [f for f in self.model.features if f in VoyageRow.model_fields]
        # The scoring code now, not on the first request, and so inside the freeze below.
        import features.no_voyage  # noqa: F401
        import serving.scoring  # noqa: F401
        # Everything loaded so far lives as long as the server: keep it out of the cyclic
        # collector, whose full passes over MLflow, pandas and the model otherwise cost
        # ~200 ms tail latencies.
        import gc
        gc.collect()
        gc.freeze()

    @staticmethod
    def _voyages_json(v: pd.DataFrame, a: Assessment) -> list[dict]:
        """The scored voyages as the answer's list: the table's ids, times and ports beside the
        model's :class:`~serving.scoring.Assessment` (a row of the whole voyage table is ~140
        cells, ~1 ms a voyage to build)."""
        if not len(v):
            return []
        js = {c: [jsonable(x) for x in v[c].to_numpy(dtype=object)] for c in ("start", "end", "origin_port",
                                                                               "destination_port")}
        return [{"voyage_id": vid, "start": s, "end": e, "origin_port": o, "destination_port": dp, "risk": float(r),
                 "level": lv, "partial": pa, "reasons": [{k: jsonable(x) for k, x in why.items()} for why in rs]}
                for vid, s, e, o, dp, r, lv, pa, rs in zip(
                    v["voyage_id"].tolist(), js["start"], js["end"], js["origin_port"], js["destination_port"],
                    a.risk.tolist(), a.level.tolist(), a.partial.tolist(), a.reasons)]

    @bentoml.api(route="/score", input_spec=TrackIn)
    async def score(self, mmsi: int, positions: list[Position]) -> dict[str, Any]:
        """One vessel's positions -> per-voyage risk, level and reasons, and the vessel's risk."""
        if len(positions) <= INLINE_POSITIONS:
            answer = self._score(mmsi, positions)
        else:
            answer = await anyio.to_thread.run_sync(self._score, mmsi, positions)
        # The answer's JSON written here, as BentoML writes it (same bytes): its own path for a
        # ``dict[str, Any]`` first validates and dumps the dict through pydantic (~0.35 ms of
        # a ~9 ms request). ``_score`` builds every value JSON-ready (no NaN, no numpy types).
        return Response(json.dumps(answer), media_type="application/json")

    def _score(self, mmsi: int, positions: list[Position]) -> dict[str, Any]:
        from features.no_voyage import NO_VOYAGE_REASON
        from serving.scoring import score_track
        try:
            sc = score_track(track_frame(mmsi, positions), self.model)
        except ValueError as err:
            raise _bad("positions", str(err)) from None
        a = sc.assessment
        if len(a.risk):
            risk, reason = float(a.risk.max()), None
        else:
            # No voyage is no evidence, not low risk: risk null, level "insufficient data".
            risk = None
            reason = ("; ".join(dict.fromkeys(sc.no_voyage["reasons_text"])) if sc.no_voyage is not None
                      and len(sc.no_voyage) else f"{NO_VOYAGE_REASON}: no position was accepted")
        return {"mmsi": mmsi, "model_version": MODEL_INFO.get("version"), "risk": risk,
                "level": str(self.model.level([np.nan if risk is None else risk])[0]), "reason": reason,
                "rows": sc.counts.to_dict(), "voyages": self._voyages_json(sc.voyages, a)}

    @bentoml.api(route="/score_voyages", batchable=True, max_batch_size=MAX_VOYAGES,
                 max_latency_ms=BATCH_QUEUE_LIMIT_MS)
    def score_voyages(self, voyages: Annotated[list[VoyageRow], Field(max_length=MAX_VOYAGES)]) -> list[dict[str, Any]]:
        """Feature rows (as ``darkvoyage features`` writes them) -> risk and level per row.
        Each request was validated on its own (strict types), so a batch holds only good rows."""
        frame = pd.DataFrame({f: np.array([getattr(r, f) for r in voyages], dtype=float)
                              for f in (*self.row_features, "lg_start_lat", "lg_start_lon")})
        # A row that carries where its longest gap started gets its grid features from the
        # model's own grid; a row without keeps the ones it brought.
        has = np.array(["lg_start_lat" in r.model_fields_set or "lg_start_lon" in r.model_fields_set for r in voyages],
                       dtype=bool)
        risk = self.model.risk(frame, self.model.matrix_array(frame, grid_rows=has))
        level = self.model.level(risk)
        return [{"voyage_id": r.voyage_id, "risk": float(x), "level": str(lv)} for r, x, lv in zip(voyages, risk, level)]

    @bentoml.api(route="/watchlist")
    def watchlist(self, file: Path, top: Annotated[int, Field(ge=1, le=10_000)] = 50,
                  suffix: Literal[SUFFIXES] = "") -> dict[str, Any]:  # type: ignore[valid-type]
        """An uploaded positions file (CSV, Parquet, NDJSON, NMEA) -> the ranked watchlist."""
        from features.config import DEFAULT
        from features.errors import DarkvoyageError
        from serving.scoring import outside_region_warning, score_files
        from serving.scoring import watchlist as ranked
        src = Path(file)
        if not suffix:  # the uploaded name's suffix tells the reader the format, if it is one we know
            own = "".join(Path(str(getattr(file, "name", src.name))).suffixes[-2:]).lower()
            suffix = own if own in SUFFIXES else ""
        with tempfile.TemporaryDirectory() as tmp:
            name = Path(tmp) / ("upload" + suffix)
            data = src.read_bytes()
            if data[:2] == b"\x1f\x8b":  # a gzip file: inflated here, with the same cap as a request body
                try:
                    data = inflate(data, limit_bytes())
                except Refused as r:
                    raise as_http_error(r) from None
                name = name.with_suffix("") if name.suffix == ".gz" else name
            parquet = data[:4] == b"PAR1"
            name.write_bytes(data)
            del data
            if parquet:  # Parquet pages are compressed too: the same cap on what they hold
                check_parquet_size(name, limit_bytes())
            try:
                sc = score_files([name], self.model)
            except (DarkvoyageError, ValueError) as err:
                raise _bad("file", str(err).replace(str(name), "upload")) from None
            except Exception as err:  # noqa: BLE001 - a reader choking on hostile bytes is a bad file, not a 500
                log.warning("upload unreadable: %s: %s", type(err).__name__, err)
                raise _bad("file", f"not a readable positions file ({type(err).__name__})") from None
        wl = ranked(sc.voyages, top, sc.no_voyage)
        rows = [{k: jsonable(x) for k, x in r.items()} for r in wl.to_dict("records")]
        # What the commands say on stderr, said in the answer: a feed from another sea.
        share = sc.tracks.share_outside(self.model.gaz, DEFAULT.dark_call_region_km)
        warning = outside_region_warning(share)
        return {"model_version": MODEL_INFO.get("version"), "rows": sc.tracks.counts.to_dict(),
                "warnings": [warning] if warning else [],
                "watchlist": rows}


VoyageRisk.add_asgi_middleware(Gate)
