"""The promotion gate: a candidate takes alias ``champion`` only when it is significantly
better than the champion on the reference set (paired bootstrap over vessels), or, once the
analysts' reference set is large enough, significantly better there while the simulated
reference AP holds; never when it ranks the analysts' set worse."""

from __future__ import annotations

import logging

import numpy as np

from .evaluation import GATE_MAX_LOSS
from .tracking import MODEL_NAME

log = logging.getLogger(__name__)


def champion_on_reference(*refs) -> tuple[str | None, list[np.ndarray | None], str | None]:
    """(version, risks per reference set, problem) of the current champion, loaded once: version
    None when there is no champion; a set's risks None when it cannot score it (features of
    another feature-code version, missing columns, non-finite risks), and ``problem`` says in
    one line why it could not score the first set."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    try:
        mv = MlflowClient().get_model_version_by_alias(MODEL_NAME, "champion")
    except MlflowException:
        return None, [None] * len(refs), None
    version = str(mv.version)
    try:
        champ = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{version}").unwrap_python_model()
    except (MlflowException, OSError, ValueError, TypeError) as err:
        return version, [None] * len(refs), f"it does not load ({type(err).__name__}: {str(err).splitlines()[0][:160]})"
    scored = [_scores(champ, ref) for ref in refs]
    return version, [r for r, _ in scored], scored[0][1] if scored else None


def _scores(champ, ref) -> tuple[np.ndarray | None, str | None]:
    """(risks, None) of the champion on one reference set, or (None, why it cannot score it)."""
    if champ.feature_code_version != ref.feature_code_version:
        return None, f"its features are version {champ.feature_code_version}, the reference set's {ref.feature_code_version}"
    try:
        risk = np.asarray(champ.risk(ref.voyages), float)
    except (ValueError, KeyError) as err:
        return None, str(err).splitlines()[0][:200]
    if not np.isfinite(risk).all():
        return None, "it gives non-finite risks"
    return risk, None


def promotion_gate(version: str, ref, p_ref: np.ndarray, promote: str, min_gain: float | None = None,
                   analyst=None) -> dict:
    """Decide whether candidate ``version`` takes alias ``champion`` and move it if so.

    auto: only with no champion, or when the paired bootstrap over reference vessels puts the
    5th percentile of AP(candidate) - AP(champion) above ``min_gain`` (default
    :data:`training.evaluation.GATE_MIN_GAIN`); a champion that cannot score the
    reference set is kept (and said so). force: always. never: never. ``analyst``: (the
    analyst reference set, the candidate's risks on it) once it is large enough: a candidate
    whose AP there is below the champion's is never promoted by auto; one whose lower bound
    there is above ``min_gain`` is, if its simulated reference AP is at most
    :data:`GATE_MAX_LOSS` below the champion's. Returns the decision text and the figures behind
    it (both APs, the intervals)."""
    from mlflow import MlflowClient
    from .evaluation import BOOTSTRAP_RESAMPLES, GATE_MIN_GAIN, GATE_QUANTILE, average_precision, paired_bootstrap_ap
    min_gain = GATE_MIN_GAIN if min_gain is None else float(min_gain)
    y = ref.voyages["y"].to_numpy(int)
    champ_version, risks, problem = champion_on_reference(ref, *([analyst[0]] if analyst is not None else []))
    champ_risk = risks[0]
    gate = {"candidate_version": version, "champion_version": champ_version, "candidate_ap": average_precision(y, p_ref),
            "champion_ap": None, "diff": None, "diff_low": None, "diff_high": None, "resamples": None,
            "quantile": GATE_QUANTILE, "min_gain": min_gain, "champion_problem": problem, "reference_digest": ref.digest,
            "champion_reference_digest": champion_reference_digest(champ_version)}
    if champ_risk is not None:
        b = paired_bootstrap_ap(y, p_ref, champ_risk, ref.voyages["vessel_group"].to_numpy(), BOOTSTRAP_RESAMPLES)
        gate.update(champion_ap=b["champion_ap"], diff=b["diff"], diff_low=b["low"], diff_high=b["high"],
                    resamples=b["resamples"])
    if analyst is not None:
        y_a = analyst[0].voyages["y"].to_numpy(int)
        gate["analyst_ap"] = average_precision(y_a, analyst[1])
        gate["champion_analyst_ap"] = None
        champ_a = risks[1]
        if champ_a is not None:
            b = paired_bootstrap_ap(y_a, analyst[1], champ_a, analyst[0].voyages["vessel_group"].to_numpy(),
                                    BOOTSTRAP_RESAMPLES)
            gate.update(champion_analyst_ap=b["champion_ap"], analyst_diff=b["diff"], analyst_diff_low=b["low"],
                        analyst_diff_high=b["high"])
    gate["decision"] = _decision(gate, promote)
    if gate["decision"].startswith("promoted"):
        MlflowClient().set_registered_model_alias(MODEL_NAME, "champion", version)
    log.info("promotion: %s", gate["decision"])
    return gate


def champion_reference_digest(version: str | None) -> str | None:
    """The digest of the reference set the champion's own run was measured on (its run's tag),
    or None (no champion, or a run that recorded none)."""
    if version is None:
        return None
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    try:
        client = MlflowClient()
        run_id = client.get_model_version(MODEL_NAME, version).run_id
        return client.get_run(run_id).data.tags.get("darkvoyage.reference_digest") if run_id else None
    except MlflowException:
        return None


def _decision(g: dict, promote: str) -> str:
    """One line: what the gate decided and why; and when the champion was judged on another
    reference set than today's (a changed simulator or feature code builds a new one), that
    both are judged on today's now."""
    return _verdict(g, promote) + _reference_note(g)


def _reference_note(g: dict) -> str:
    old, new = g.get("champion_reference_digest"), g.get("reference_digest")
    if g["champion_version"] is None or not old or old == new:
        return ""
    return (f"; champion v{g['champion_version']} was promoted on reference set {old}, both are judged on "
            f"{new} now")


def _verdict(g: dict, promote: str) -> str:
    cv = g["champion_version"]
    if g["champion_problem"]:
        why = f"champion v{cv} cannot score the reference set: {g['champion_problem']}"
    elif g["champion_ap"] is not None:
        why = (f"reference AP {g['candidate_ap']:.3f} vs champion v{cv} {g['champion_ap']:.3f}, difference "
               f"{g['diff']:+.3f}, 90 % interval [{g['diff_low']:+.3f}, {g['diff_high']:+.3f}]")
    else:
        why = f"reference AP {g['candidate_ap']:.3f}"
    if promote == "never":
        return f"skipped (--promote never; {why})"
    if promote == "force":
        return f"promoted (--promote force; {why})"
    if cv is None:
        return f"promoted (no champion yet; {why})"
    if g["champion_problem"]:
        return f"kept champion v{cv} ({why}; only --promote force replaces it)"
    judged = g.get("champion_analyst_ap") is not None
    worse = judged and g["analyst_ap"] < g["champion_analyst_ap"]
    if g["diff_low"] > g["min_gain"] and worse:
        return (f"kept champion v{cv} ({why}; but worse on the analyst reference set: AP {g['analyst_ap']:.3f} vs "
                f"{g['champion_analyst_ap']:.3f})")
    if g["diff_low"] > g["min_gain"]:
        return f"promoted ({why}: lower bound above the {g['min_gain']:.3f} minimum gain)"
    # What analysts' verdicts teach shows on their set, not on the simulated one: a significant
    # gain there promotes, as long as the simulated reference AP holds.
    ana = ""
    if judged and g.get("analyst_diff_low") is not None:
        ana = (f"; analyst reference AP {g['analyst_ap']:.3f} vs {g['champion_analyst_ap']:.3f}, 90 % interval "
               f"[{g['analyst_diff_low']:+.3f}, {g['analyst_diff_high']:+.3f}]")
        if g["analyst_diff_low"] > g["min_gain"] and g["diff"] >= -GATE_MAX_LOSS:
            return f"promoted ({why}{ana}: a significant gain on the analysts' verdicts, the reference AP held)"
        if g["analyst_diff_low"] > g["min_gain"]:
            return f"kept champion v{cv} ({why}{ana}, but the reference AP fell by more than {GATE_MAX_LOSS:.2f})"
    return f"kept champion v{cv} ({why}{ana}: not a significant gain, lower bound <= {g['min_gain']:.3f})"
