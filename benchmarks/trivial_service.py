"""The yardstick for ``bench_service.py``: BentoML endpoints that do no work, served the same
way as ours (one worker, same process model), so the REST figures can be read against what
BentoML itself costs on the same machine in the same run.

``POST /constant`` returns a constant; ``POST /track_constant`` takes the same request model
as ``/score`` (a 1,000-position track is parsed and validated) and returns a constant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import bentoml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from serving.request_models import Position, TrackIn  # noqa: E402


@bentoml.service(name="trivial", workers=1)
class Trivial:
    @bentoml.api(route="/constant")
    def constant(self) -> dict[str, Any]:
        return {"ok": True}

    @bentoml.api(route="/track_constant", input_spec=TrackIn)
    def track_constant(self, mmsi: int, positions: list[Position]) -> dict[str, Any]:
        return {"ok": True}
