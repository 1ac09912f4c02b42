"""The environment darkvoyage reads (:mod:`features.settings`): numpy's huge-page advice is off
in darkvoyage's processes and the processes they start, unless the operator turns it on."""

from __future__ import annotations

import os
import subprocess
import sys

from numpy._core.multiarray import _get_madvise_hugepage, _set_madvise_hugepage

from features.settings import apply_numpy_memory

from ..helpers import console

_CHILD = "from numpy._core.multiarray import _get_madvise_hugepage as g; print(g())"


def _child() -> str:
    return subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True).stdout.strip()


def test_huge_page_advice_is_off_here_and_in_child_processes_unless_asked_for(monkeypatch):
    before = _get_madvise_hugepage()
    try:
        _set_madvise_hugepage(True)  # numpy's default
        monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
        apply_numpy_memory()
        assert _get_madvise_hugepage() is False and os.environ["NUMPY_MADVISE_HUGEPAGE"] == "0"
        assert _child() == "False"  # a Spark worker or a served model imports numpy afresh
        monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")  # the operator's choice stands
        apply_numpy_memory()
        assert _get_madvise_hugepage() is True and _child() == "True"
    finally:
        _set_madvise_hugepage(before)


def test_a_value_darkvoyage_cannot_read_is_one_line_and_exit_2():
    r = console("tracks", "--help", env={**os.environ, "NUMPY_MADVISE_HUGEPAGE": "yes"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "darkvoyage: NUMPY_MADVISE_HUGEPAGE='yes' is not a valid int"
