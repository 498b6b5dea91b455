"""A short fit on real FER2013 faces beats chance clearly (skipped without the data)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from skmood import HappySadClassifier, load_image_folder

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def _subset(paths, labels, n, seed):
    rng = np.random.default_rng(seed)
    keep = rng.choice(len(paths), size=min(n, len(paths)), replace=False)
    return paths[keep], labels[keep]


def test_short_fit_on_real_faces_beats_chance(real_data_dir):
    paths, labels = load_image_folder(real_data_dir / "train")
    assert set(labels) == {"happy", "sad"}
    X_train, y_train = _subset(paths, labels, 3000, seed=0)
    val_paths, val_labels = load_image_folder(real_data_dir / "val")
    X_val, y_val = _subset(val_paths, val_labels, 600, seed=1)

    clf = HappySadClassifier(image_size=(48, 48), color_mode="grayscale",
                             conv_filters=(16, 32, 64), dense_units=64, batch_norm=True,
                             epochs=4, batch_size=64, random_state=0)
    clf.fit(X_train, y_train)
    # Majority class is ~58 %; balanced accuracy of a guess is 0.5.
    assert clf.score(X_val, y_val) > 0.68
    assert balanced_accuracy_score(y_val, clf.predict(X_val)) > 0.65
