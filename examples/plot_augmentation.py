"""
Data augmentation: rotation, flips and zoom
===========================================

:class:`skmood.HappySadClassifier` can put random augmentation layers at the
front of its network:

* ``rotation``: rotate by up to this many degrees either way,
* ``horizontal_flip``: mirror left-right at random,
* ``zoom``: zoom in or out by up to this fraction.

The layers are Keras preprocessing layers (built by
:func:`skmood.models.augmentation_layers`). They change every training batch
afresh and are inactive at prediction time, so ``predict`` always sees the
images as they are. Augmentation helps most when the training set is small
and the test images vary in pose; it usually needs more epochs to pay off.
"""

# %%
# What the augmentation does
# --------------------------
# Apply the same layers the classifier would build to one face, in training
# mode, several times over.
import numpy as np
from keras import ops

from skmood.datasets import make_faces
from skmood.models import augmentation_layers

augmentation = dict(rotation=15.0, horizontal_flip=True, zoom=0.15)
faces, _ = make_faces(1, image_size=(32, 32), random_state=2)
face = faces.astype("float32") / 255.0
layers = augmentation_layers(**augmentation, seed=0)
print("layers:", [layer.name for layer in layers])

variants = []
for _ in range(6):
    x = face
    for layer in layers:
        x = layer(x, training=True)
    variants.append(ops.convert_to_numpy(x)[0])
variants = np.stack(variants)
print(variants.shape, "pixel range", float(variants.min()), "-", float(variants.max()))

# %%
try:
    import matplotlib.pyplot as plt
except ImportError:
    plt = None

if plt is not None:
    fig, axes = plt.subplots(1, 7, figsize=(10, 1.8))
    for ax, img, title in zip(axes, [face[0], *variants], ["original"] + [""] * 6):
        ax.imshow(np.clip(img, 0, 1))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(f"random augmentations: {augmentation}", fontsize=9)
    plt.show()

# %%
# Train with augmentation
# -----------------------
# The same parameters, passed to the classifier. ``random_state`` also seeds
# the augmentation layers, so the fit is repeatable.
from skmood import HappySadClassifier

X_train, y_train = make_faces(240, image_size=(32, 32), random_state=0)
X_test, y_test = make_faces(120, image_size=(32, 32), random_state=1)

clf = HappySadClassifier(
    image_size=(32, 32),
    color_mode="grayscale",
    conv_filters=(16, 32),
    dense_units=32,
    learning_rate=3e-3,
    epochs=10,
    batch_size=8,
    random_state=1,
    **augmentation,
)
clf.fit(X_train, y_train)
print("network layers:", [layer.name for layer in clf.model_.layers])
accuracy = clf.score(X_test, y_test)
print(f"test accuracy with augmentation: {accuracy:.3f}")

# %%
# On so few faces, randomly changed every batch, the network needs about ten
# epochs, and the start matters: with ``random_state`` 1, 2 and 3 this fit
# reached 0.93, 0.82 and 0.50 (one run never left chance). On a real data set
# (thousands of faces) that spread vanishes; here, check the training curve
# (``clf.history_``) and try another seed or a lower learning rate when the
# loss does not fall.

# %%
# The augmentation layers pass images through unchanged at inference, so
# predictions are deterministic:
assert np.array_equal(clf.predict_proba(X_test[:8]), clf.predict_proba(X_test[:8]))
