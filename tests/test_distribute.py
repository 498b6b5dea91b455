"""``distribution``: training inside a tf.distribute strategy (skmood._distribute).

The mirrored fit runs in a fresh interpreter: two logical CPU devices must be
configured before TensorFlow initialises its devices, which this test process
has done long before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone

import skmood
from skmood import SkmoodWarning

MIRRORED_FIT = r"""
import json, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
import skmood
from skmood import HappySadClassifier, make_faces

X, y = make_faces(40, image_size=(16, 16), random_state=0)
steps = []


class Steps(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        steps.append(batch)


clf = HappySadClassifier(image_size=(16, 16), conv_filters=(4,), dense_units=8, epochs=2,
                         batch_size=8, random_state=0, precision="float32",
                         distribution="mirrored").fit(X, y, callbacks=[Steps()])
strategy = clf.model_.distribute_strategy
per_weight = [strategy.experimental_local_results(w.value) for w in clf.model_.weights]
proba = clf.predict_proba(X)
direct = np.asarray(clf.model_(X.astype("float32") / 255, training=False)).ravel()
skmood.save(clf, sys.argv[1])
loaded = skmood.load(sys.argv[1])
try:
    loaded.set_params(warm_start=True).fit(X, y)
    warm = None
except ValueError as exc:
    warm = str(exc)
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "devices": list(strategy.extended.worker_devices),
    "steps": len(steps),
    "loss": clf.history_["loss"],
    "copies": [len(parts) for parts in per_weight],
    "identical": [all(np.array_equal(parts[0], p) for p in parts[1:]) for parts in per_weight],
    "proba_shape": list(proba.shape),
    "proba_vs_direct": float(np.abs(proba[:, 1] - direct).max()),
    "loaded_distribution": loaded.distribution,
    "loaded_vs_fitted": float(np.abs(loaded.predict_proba(X) - proba).max()),
    "warm_start": warm,
}))
"""


@pytest.mark.slow
def test_mirrored_fit_on_two_logical_cpus(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, "-c", MIRRORED_FIT, str(tmp_path / "m.skmood")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and len(result["devices"]) == 2
    # batch_size is the global batch: 40 images / 8 = 5 steps per epoch, each split 4 + 4.
    assert result["steps"] == 10
    assert len(result["loss"]) == 2 and all(np.isfinite(result["loss"]))
    assert set(result["copies"]) == {2} and all(result["identical"])
    assert result["proba_shape"] == [40, 2] and result["proba_vs_direct"] < 1e-6
    # The loaded network predicts on one device, the fitted one on two half batches.
    assert result["loaded_distribution"] == "mirrored" and result["loaded_vs_fitted"] < 1e-6
    assert "built under no strategy" in result["warm_start"]


@pytest.fixture(scope="module")
def one_device():
    import tensorflow as tf

    return tf.distribute.OneDeviceStrategy("/cpu:0")


def test_a_strategy_object_is_used_cloned_and_not_stored(face_pixels, make_clf, one_device,
                                                         tmp_path):
    X, y = face_pixels
    clf = make_clf(image_size=(24, 24), distribution=one_device).fit(X, y)
    assert clf.model_.distribute_strategy is one_device
    assert clone(clf).get_params()["distribution"] is not None  # clonable (deep copy)
    with pytest.warns(SkmoodWarning, match="not stored: distribution=OneDeviceStrategy"):
        skmood.save(clf, tmp_path / "s.skmood")
    loaded = skmood.load(tmp_path / "s.skmood")
    assert loaded.distribution is None
    np.testing.assert_array_equal(loaded.predict_proba(X[:8]), clf.predict_proba(X[:8]))


def test_bad_distributions_are_clear_errors(face_pixels, make_clf, one_device):
    X, y = face_pixels

    class LooksLikeAStrategy:
        def scope(self):
            pass

        def run(self):
            pass

    with pytest.raises(ValueError, match="distribution"):
        make_clf(distribution="gpus").fit(X, y)
    with pytest.raises(TypeError, match="tf.distribute.Strategy; got a LooksLikeAStrategy"):
        make_clf(distribution=LooksLikeAStrategy()).fit(X, y)
    fitted = make_clf(image_size=(24, 24)).fit(X, y)
    with pytest.raises(ValueError, match="built under no strategy.*warm_start=False"):
        fitted.set_params(warm_start=True, distribution=one_device).fit(X, y)
