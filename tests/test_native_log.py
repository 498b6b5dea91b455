"""TensorFlow's native start-up lines stay off the command line's stderr
(:mod:`skmood._native_log`), and nothing else does.

The ``skmood`` command's own output on a real start is checked in
``test_pretrained.py`` (``skmood predict`` with the shipped model).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from skmood._native_log import without_noise

START_UP = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    b"I0000 00:00:1796234595.025828   17711 cudart_stub.cc:31] Could not find cuda drivers "
    b"on your machine, GPU will not be used.\n"
    b"E0000 00:00:1796234603.864088   17711 cuda_platform.cc:52] failed call to cuInit: "
    b"INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n"
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
)


def test_only_the_known_start_up_lines_are_dropped():
    real = (b"E0000 00:00:1.0   1 op_kernel.cc:1] OP_REQUIRES failed: out of memory\n"
            b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU. (and more)\n"
            b"Traceback (most recent call last):\n")
    assert without_noise(START_UP) == b""
    assert without_noise(START_UP[:60] + b"\n") == START_UP[:60] + b"\n"  # only whole lines
    assert without_noise(START_UP + real + START_UP) == real


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300)


def test_tensorflow_starts_quietly_and_other_lines_come_through_in_order():
    proc = _run("""
        import os, sys
        from skmood import _native_log
        _native_log.enable()
        print("before", file=sys.stderr, flush=True)
        with _native_log.native_stderr_filtered():
            os.write(2, b"a real native error\\n")
            _native_log.start_tensorflow()
            print("from Python inside", file=sys.stderr, flush=True)
        os.write(2, b"after\\n")
    """)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr.decode().splitlines() == [
        "before", "a real native error", "from Python inside", "after"]


def test_the_python_api_leaves_stderr_alone():
    proc = _run("""
        import os
        from skmood import _native_log
        with _native_log.native_stderr_filtered():
            os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
    """)
    assert proc.stderr == b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
