"""skmood undoes TensorFlow's malloc setting that makes every large tensor a fresh mmap.

The first ``from_generator`` dataset of a process (Keras feeds every
``PyDataset`` through one) makes TensorFlow call
``mallopt(M_MMAP_THRESHOLD, 128 KiB)``, which freezes glibc's mmap threshold at
128 KiB: each larger buffer is mapped anew and faults in its pages, which
halved training speed on one benchmark machine. skmood lets TensorFlow make
that setting at the first fit and undoes it right after, once per process.
These tests count page faults, not time, and count the calls.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

import skmood._malloc as malloc
import skmood._sequence as sequence
from skmood._malloc import restore_malloc_thresholds, undo_tensorflow_setting

glibc_only = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="the setting is glibc's",
)

# Allocate, fill and free n 1-MiB buffers; return the page faults it took.
_PAGE_FAULTS = """
import ctypes, json, resource
import numpy as np

def page_faults(n=50, size=1 << 20):
    page_faults_once(2)
    return page_faults_once(n, size)

def page_faults_once(n, size=1 << 20):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        buffer = np.empty(size, np.uint8)
        buffer.fill(1)
        del buffer
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

def tensorflow_setting():  # the call TensorFlow 2.21 makes: M_MMAP_THRESHOLD, 128 KiB
    ctypes.CDLL(None).mallopt(-3, 128 * 1024)
"""

# Run in a fresh interpreter: in the test process, earlier tests leave free
# blocks on the heap that would serve the buffers whatever the thresholds are.
_MEASURE = _PAGE_FAULTS + """
from skmood._malloc import restore_malloc_thresholds

tensorflow_setting()
with_tf_setting = page_faults()
restored_ok = restore_malloc_thresholds()
print(json.dumps({"with_tf_setting": with_tf_setting, "restored": page_faults(),
                  "restored_ok": restored_ok}))
"""

# Two fits in a fresh interpreter, where only TensorFlow and skmood touched malloc.
_FITS = _PAGE_FAULTS + """
import sys
from skmood.datasets import make_faces
sys.path.insert(0, TESTS)
from conftest import tiny_classifier

X, y = make_faces(32, image_size=(16, 16), random_state=0)
tiny_classifier().fit(X, y)
after_fit = page_faults()
tiny_classifier(validation_split=0.25).fit(X, y)
print(json.dumps({"after_fit": after_fit, "after_second_fit": page_faults()}))
"""


def _run(script, **env):
    base = {k: v for k, v in os.environ.items() if k != "SKMOOD_MALLOC_TUNING"}
    script = script.replace("TESTS", repr(str(Path(__file__).parent)))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, env={**base, **env})
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


@pytest.fixture
def fresh_process_state(monkeypatch):
    """skmood's once-per-process flag cleared; calls of the two steps recorded."""
    calls = []
    real_restore, real_start = malloc.restore_malloc_thresholds, sequence.start_generator_dataset
    monkeypatch.setattr(malloc, "_undone", False)
    monkeypatch.setattr(malloc, "restore_malloc_thresholds",
                        lambda: calls.append("restore") or real_restore())
    monkeypatch.setattr(sequence, "start_generator_dataset",
                        lambda: calls.append("start") or real_start())
    return calls


@glibc_only
def test_restoring_the_thresholds_reuses_large_buffers_instead_of_faulting_them_in():
    faults, _ = _run(_MEASURE)
    assert faults["restored_ok"] is True
    # Each fresh 1-MiB mapping faults in 256 pages; a reused heap block almost none.
    assert faults["with_tf_setting"] > 50 * 100
    assert faults["restored"] < faults["with_tf_setting"] / 10


@pytest.mark.slow
@glibc_only
def test_after_fits_the_thresholds_stay_restored_and_tensorflow_set_them_once():
    # Pins TensorFlow's behaviour: one setting per process, at the first
    # from_generator dataset (which skmood starts itself, then undoes).
    kept, kept_log = _run(_FITS, SKMOOD_MALLOC_TUNING="0", TF_CPP_MIN_LOG_LEVEL="0")
    restored, restored_log = _run(_FITS, TF_CPP_MIN_LOG_LEVEL="0")
    assert kept_log.count("Memory patch applied") == 1
    assert restored_log.count("Memory patch applied") == 1
    assert kept["after_fit"] > 50 * 100 and kept["after_second_fit"] > 50 * 100
    assert restored["after_fit"] < kept["after_fit"] / 10
    assert restored["after_second_fit"] < kept["after_second_fit"] / 10


def test_the_tuning_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("SKMOOD_MALLOC_TUNING", "0")
    assert restore_malloc_thresholds() is False
    started = []
    assert undo_tensorflow_setting(lambda: started.append(1)) is False
    assert started == []  # not even TensorFlow's dataset is started


@glibc_only
def test_the_thresholds_are_restored_once_per_process(face_paths, make_clf,
                                                      fresh_process_state):
    paths, labels = face_paths
    make_clf(epochs=2).fit(paths, labels)
    assert fresh_process_state == ["start", "restore"]  # TensorFlow's setting first
    make_clf(validation_split=0.25).fit(paths, labels)  # training + validation data
    assert fresh_process_state == ["start", "restore"]
    assert malloc._undone is True


def test_switched_off_a_fit_changes_nothing(face_paths, make_clf, fresh_process_state,
                                            monkeypatch):
    monkeypatch.setenv("SKMOOD_MALLOC_TUNING", "0")
    paths, labels = face_paths
    make_clf().fit(paths, labels)
    assert fresh_process_state == [] and malloc._undone is False


@glibc_only
def test_prediction_leaves_malloc_alone(face_paths, make_clf, fresh_process_state):
    # Prediction calls the network batch by batch: no from_generator dataset,
    # so TensorFlow makes no setting and there is nothing to undo.
    paths, labels = face_paths
    clf = make_clf().fit(paths, labels)
    fresh_process_state.clear()
    malloc._undone = False  # (restored by monkeypatch)
    clf.predict_proba(paths)
    assert fresh_process_state == [] and malloc._undone is False
