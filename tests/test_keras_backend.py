"""skmood's Keras boundary: who imports Keras and TensorFlow, and what it changes.

The process-wide effects are checked in fresh interpreters.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import skmood

_HEAVY = {"keras", "scikeras", "tensorflow"}


def _heavy_imports(tree: ast.Module) -> set[str]:
    """The top-level names of Keras, scikeras and TensorFlow imported anywhere in ``tree``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & _HEAVY


def test_only_the_backend_imports_keras_scikeras_and_tensorflow():
    package = Path(skmood.__file__).parent
    offenders = {}
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        heavy = _heavy_imports(tree)
        if name == "_litert.py":  # tf.lite and nothing else of TensorFlow
            used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name) and node.value.id == "tf"}
            assert heavy == {"tensorflow"} and used == {"lite"}, (heavy, used)
        elif heavy and name != "_keras_backend.py":
            offenders[name] = sorted(heavy)
    assert offenders == {}


def _run(script: str, **env) -> list:
    base = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, env={**base, **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_keras_backend_is_set_when_keras_is_first_needed_and_only_if_unset():
    unset = _run(
        "import json, os, sys, skmood\n"
        "before = [os.environ.get('KERAS_BACKEND'), 'keras' in sys.modules]\n"
        "import skmood._keras_backend as backend\n"
        "print(json.dumps(before + [os.environ['KERAS_BACKEND'],"
        " backend.keras.backend.backend()]))\n")
    # importing skmood changes nothing; its Keras boundary picks TensorFlow
    assert unset == [None, False, "tensorflow", "tensorflow"]
    chosen = _run(
        "import json, os\n"
        "try:\n"
        "    import skmood._keras_backend\n"
        "    error = None\n"
        "except ImportError as exc:\n"
        "    error = str(exc)\n"
        "print(json.dumps([os.environ['KERAS_BACKEND'], error]))\n",
        KERAS_BACKEND="numpy")
    # The user's choice is kept (and Keras' numpy backend cannot run skmood).
    assert chosen[0] == "numpy"
    assert "needs Keras 3 with the TensorFlow backend" in chosen[1]
