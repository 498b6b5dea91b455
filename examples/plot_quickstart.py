"""
Quick start: train on a folder of face images
=============================================

This example goes from a folder of images to a trained, saved classifier:

1. write a small synthetic data set to a temporary folder laid out as
   ``happy/`` and ``sad/`` sub-folders,
2. list the files with :func:`skmood.load_image_folder`,
3. fit :class:`skmood.HappySadClassifier` directly on the *file paths*
   (images are decoded batch by batch while training),
4. evaluate it with a classification report and a confusion matrix,
5. save it with :mod:`joblib` and load it back.

The data and the network are tiny so that the script runs in seconds; with
real photos use a larger ``image_size`` (the default is 128x128) and more
epochs.
"""

# %%
# A folder of images
# ------------------
# :func:`~skmood.datasets.make_faces` draws cartoon faces that smile or frown.
# With ``directory=`` it writes them as PNG files, one sub-folder per class,
# which is the layout :func:`~skmood.load_image_folder` reads. We use a
# temporary folder so nothing is written next to this script.
import os
import tempfile

from skmood import load_image_folder
from skmood.datasets import make_faces

workdir = tempfile.TemporaryDirectory()
data_dir = os.path.join(workdir.name, "faces")
make_faces(300, image_size=(32, 32), random_state=0, directory=data_dir)

paths, labels = load_image_folder(data_dir)
print(sorted(os.listdir(data_dir)))
print(len(paths), "images, e.g.", os.path.relpath(paths[0], data_dir), "->", labels[0])

# %%
# Fit on file paths
# -----------------
# ``paths`` is a 1-D array of strings, so the usual scikit-learn tools apply
# unchanged. The network below is much smaller than the default one (three
# convolution blocks of 32, 64 and 128 filters on 128x128 RGB input).
# ``color_mode="grayscale"`` converts the RGB files to one channel on the
# fly; here it helps because the skin and background colours are noise.
from sklearn.model_selection import train_test_split

from skmood import HappySadClassifier

paths_train, paths_test, y_train, y_test = train_test_split(
    paths, labels, test_size=0.3, stratify=labels, random_state=0
)
clf = HappySadClassifier(
    image_size=(32, 32),
    color_mode="grayscale",
    conv_filters=(16, 32),
    dense_units=32,
    learning_rate=3e-3,
    epochs=5,
    batch_size=8,
    random_state=1,
)
clf.fit(paths_train, y_train)
print("classes:", clf.classes_)
print("training accuracy per epoch:", [round(a, 2) for a in clf.history_["accuracy"]])

# %%
# Evaluate
# --------
# ``predict`` returns the original labels and ``score`` the accuracy.
from sklearn.metrics import classification_report, confusion_matrix

y_pred = clf.predict(paths_test)
accuracy = clf.score(paths_test, y_test)
print(f"test accuracy: {accuracy:.3f}")
print(classification_report(y_test, y_pred))
cm = confusion_matrix(y_test, y_pred, labels=clf.classes_)
print(cm)

# %%
# The same confusion matrix as a plot, when matplotlib is installed.
try:
    import matplotlib.pyplot as plt
except ImportError:  # the script still runs without matplotlib
    plt = None

if plt is not None:
    from sklearn.metrics import ConfusionMatrixDisplay

    ConfusionMatrixDisplay(cm, display_labels=clf.classes_).plot(cmap="Blues")
    plt.title("HappySadClassifier on held-out faces")
    plt.show()

# %%
# Probabilities for new images
# ----------------------------
# ``predict_proba`` has one column per entry of ``classes_``.
proba = clf.predict_proba(paths_test[:3])
for path, (p_happy, p_sad) in zip(paths_test[:3], proba):
    print(f"{os.path.basename(path)}: happy={p_happy:.2f} sad={p_sad:.2f}")

# %%
# Save and load
# -------------
# The fitted classifier, Keras network included, pickles with joblib. Only
# load such files from sources you trust: unpickling can run arbitrary code.
import joblib
import numpy as np

model_path = os.path.join(workdir.name, "happy_sad.joblib")
joblib.dump(clf, model_path)
restored = joblib.load(model_path)
assert np.allclose(restored.predict_proba(paths_test), clf.predict_proba(paths_test))
print("reloaded model agrees with the original")

workdir.cleanup()
