"""Shared fixtures: tiny synthetic images written once per run, fixed seeds."""

from __future__ import annotations

import os
import random
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

#: The real FER2013 happy/sad data, beside the checkout (never copied in).
REAL_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fer2013-happy-sad"


@pytest.fixture(autouse=True)
def seeds_fixed():
    """Fix Python's and NumPy's global seeds for every test."""
    random.seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(autouse=True)
def float32_hardware(monkeypatch):
    """``precision="auto"`` sees hardware without fast bfloat16, whatever runs the tests.

    So the suite trains the same networks on every machine; tests of the
    detection (tests/test_precision.py) set the hardware they need.
    """
    from skmood import _precision

    monkeypatch.setattr(_precision, "cpu_flags", lambda: frozenset())
    monkeypatch.setattr(_precision, "gpu_compute_capabilities", lambda: [])


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real FER2013 happy/sad folder; skips the test when it is absent."""
    path = REAL_DATA.resolve()
    if not (path / "train").is_dir():
        pytest.skip(f"real data not found at {path} (see shared/data README)")
    return path


@pytest.fixture(scope="session")
def face_folder(tmp_path_factory) -> Path:
    """A folder ``happy/`` + ``sad/`` of 24 synthetic 16x16 PNG faces (written once)."""
    from skmood.datasets import make_faces

    root = tmp_path_factory.mktemp("faces")
    make_faces(24, image_size=(16, 16), random_state=0, directory=root)
    return root


@pytest.fixture(scope="session")
def face_paths(face_folder):
    """``(paths, labels)`` of :func:`face_folder`."""
    from skmood import load_image_folder

    return load_image_folder(face_folder)


@pytest.fixture(scope="session")
def face_pixels():
    """120 synthetic 24x24 RGB faces in memory, ``(X uint8, y str)``."""
    from skmood.datasets import make_faces

    return make_faces(120, image_size=(24, 24), random_state=1)


def tiny_classifier(**params):
    """A fast classifier for tests: one small conv block, one epoch, seeded."""
    from skmood import HappySadClassifier

    # precision: explicit, so that worker processes (n_jobs=2), which do not see the
    # autouse monkeypatch below, train in the same precision as this one.
    defaults = dict(image_size=(16, 16), conv_filters=(4,), dense_units=8, epochs=1,
                    batch_size=8, random_state=0, precision="float32")
    return HappySadClassifier(**{**defaults, **params})


@pytest.fixture
def make_clf():
    """Factory of :func:`tiny_classifier` with overridable parameters."""
    return tiny_classifier


@pytest.fixture(scope="session")
def tiny_fitted(face_paths):
    """:func:`tiny_classifier` fitted once per run on :func:`face_folder`'s 24 faces.

    Two epochs with a validation split (so ``history_`` has validation
    curves). Shared by the tests of the report, the "unsure" answer and the
    progress bars: use it as is, or restore what you change.
    """
    paths, labels = face_paths
    return tiny_classifier(epochs=2, validation_split=0.25).fit(paths, labels)


@pytest.fixture(scope="session")
def tiny_fitted_file(tiny_fitted, tmp_path_factory):
    """:func:`tiny_fitted` saved once as a ``.skmood`` file (for command-line tests)."""
    import skmood

    path = tmp_path_factory.mktemp("tiny-fitted") / "model.skmood"
    skmood.save(tiny_fitted, path)
    return path
