"""skmood undoes TensorFlow's malloc setting that makes every large tensor a fresh mmap.

TensorFlow's ``from_generator`` datasets (Keras feeds every ``PyDataset``
through one) call ``mallopt(M_TRIM_THRESHOLD, 128 KiB)``, which freezes glibc's
mmap threshold at 128 KiB: each larger buffer is mapped anew and faults in its
pages, which halved training speed on one benchmark machine. These tests
count page faults, not time.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

import skmood._sequence as sequence
from skmood._malloc import restore_malloc_thresholds
from skmood._validation import check_images

glibc_only = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="the setting is glibc's",
)


# Run in a fresh interpreter: in the test process, earlier tests leave free
# blocks on the heap that would serve the buffers whatever the thresholds are.
_MEASURE = """
import ctypes, json, resource
import numpy as np
from skmood._malloc import restore_malloc_thresholds

def page_faults(n=50, size=1 << 20):  # allocate, fill and free n 1-MiB buffers
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        buffer = np.empty(size, np.uint8)
        buffer.fill(1)
        del buffer
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

ctypes.CDLL(None).mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD: TensorFlow's call
page_faults(2)
with_tf_setting = page_faults()
restored_ok = restore_malloc_thresholds()
page_faults(2)
print(json.dumps({"with_tf_setting": with_tf_setting, "restored": page_faults(),
                  "restored_ok": restored_ok}))
"""


@glibc_only
def test_restoring_the_thresholds_reuses_large_buffers_instead_of_faulting_them_in():
    env = {k: v for k, v in os.environ.items() if k != "SKMOOD_MALLOC_TUNING"}
    out = subprocess.run([sys.executable, "-c", _MEASURE], capture_output=True, text=True,
                         check=True, env=env)
    faults = json.loads(out.stdout.strip().splitlines()[-1])
    assert faults["restored_ok"] is True
    # Each fresh 1-MiB mapping faults in 256 pages; a reused heap block almost none.
    assert faults["with_tf_setting"] > 50 * 100
    assert faults["restored"] < faults["with_tf_setting"] / 10


def test_the_tuning_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("SKMOOD_MALLOC_TUNING", "0")
    assert restore_malloc_thresholds() is False


def test_every_training_batch_restores_the_thresholds(face_paths, make_clf, monkeypatch):
    calls = []
    monkeypatch.setattr(sequence, "restore_malloc_thresholds", lambda: calls.append(1))
    paths, labels = face_paths  # 24 images: 3 batches of 8 per epoch
    make_clf(epochs=2, batch_size=8).fit(paths, labels)
    assert len(calls) >= 2 * 3


def test_building_a_batch_restores_them_before_decoding(face_paths, monkeypatch):
    events = []
    monkeypatch.setattr(sequence, "restore_malloc_thresholds", lambda: events.append("malloc"))
    real = sequence.read_image
    monkeypatch.setattr(sequence, "read_image",
                        lambda path, **kw: events.append("read") or real(path, **kw))
    paths, _ = face_paths
    seq = sequence.ImageSequence(check_images(paths, "test"), image_size=(16, 16),
                                 color_mode="rgb", batch_size=2)
    seq[0]
    assert events == ["malloc", "read", "read"]
