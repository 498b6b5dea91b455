"""What skmood's Keras boundary changes in the user's process, in fresh interpreters."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


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
