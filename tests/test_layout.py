"""The house rules a newcomer relies on: imports flow serving -> training -> features, the
service loads its model without the training code, and modules and functions stay short
enough to read (or say beside them why not)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("features", "training", "serving")
#: A layer may import itself and the layers after it.
ALLOWED = {"serving": {"serving", "training", "features"}, "training": {"training", "features"}, "features": {"features"}}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
#: Written beside a longer function (its ``def`` line or the line above) to say why.
LONG_OK = "long on purpose:"


def _modules():
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _imported(tree: ast.AST, package: str) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(package if node.level else (node.module or "").split(".")[0])
    return names & set(PACKAGES)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_flow_one_way(path):
    package = path.relative_to(ROOT).parts[0]
    wrong = _imported(ast.parse(path.read_text()), package) - ALLOWED[package]
    assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_are_short(path):
    text = path.read_text()
    lines = text.splitlines()
    assert len(lines) <= MAX_MODULE_LINES, f"{len(lines)} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            around = " ".join(lines[max(node.lineno - 4, 0):node.lineno])
            assert length <= MAX_FUNCTION_LINES or LONG_OK in around, \
                f"{node.name}: {length} lines and no '{LONG_OK} ...' beside it"


def test_serving_loads_the_model_without_training_code():
    code = ("import sys; from training.registry import load_model; load_model('tests/golden/model'); "
            "import serving.service, serving.scoring, serving.export; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('optuna', 'matplotlib') "
            "or m in ('training.train', 'training.evaluation', 'training.gate', 'training.simulator')))")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_the_cli_scripts_folder_hides_no_library():
    """``spark-submit serving/cli.py`` puts ``serving/`` first on the path: a module there named
    like an installed package (``requests.py`` was one) hides it from every library that
    imports it (MLflow loading a model: every scoring command failed on a cluster)."""
    import importlib.util
    clash = []
    for p in (ROOT / "serving").glob("*.py"):
        spec = None if p.stem == "__init__" else importlib.util.find_spec(p.stem)
        if spec is not None and ROOT / "serving" not in Path(spec.origin or ROOT / "serving" / "x").resolve().parents:
            clash.append(p.name)
    assert not clash, f"modules in serving/ named like installed or standard modules: {clash}"
