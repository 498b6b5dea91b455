"""
Tune the network in a pipeline with GridSearchCV
================================================

:class:`skmood.HappySadClassifier` is an ordinary scikit-learn estimator, so
it can be the last step of a :class:`~sklearn.pipeline.Pipeline` and its
hyperparameters, architecture included, can be tuned with
:class:`~sklearn.model_selection.GridSearchCV`.

The pipeline spells out the preprocessing the classifier would otherwise do
internally:

* :class:`~skmood.ImageLoader` decodes file paths into images,
* :class:`~skmood.ImageResizer` brings them to one size (uint8 array),
* :class:`~skmood.PixelNormalizer` scales the pixels to float32 in [0, 1].

The grid has two candidates and the cross-validation two folds, so five
networks are trained (four for the search and one refit on all the data).
"""

# %%
# Data
# ----
# Synthetic faces written to temporary folders and listed as file paths: one
# set to tune on, and a separate one to test the chosen model on.
import os
import tempfile

from skmood import load_image_folder
from skmood.datasets import make_faces

workdir = tempfile.TemporaryDirectory()
train_dir = os.path.join(workdir.name, "train")
test_dir = os.path.join(workdir.name, "test")
make_faces(160, image_size=(32, 32), random_state=0, directory=train_dir)
make_faces(60, image_size=(32, 32), random_state=1, directory=test_dir)
paths, labels = load_image_folder(train_dir)
test_paths, test_labels = load_image_folder(test_dir)

# %%
# The pipeline
# ------------
# Step names come from :func:`~sklearn.pipeline.make_pipeline`: the classifier
# is ``happysadclassifier``, so its parameters are addressed as
# ``happysadclassifier__<name>``.
from sklearn.pipeline import make_pipeline

from skmood import HappySadClassifier, ImageLoader, ImageResizer, PixelNormalizer

size = (32, 32)
pipe = make_pipeline(
    ImageLoader(color_mode="grayscale"),
    ImageResizer(image_size=size),
    PixelNormalizer(),
    HappySadClassifier(
        image_size=size,
        color_mode="grayscale",
        dense_units=32,
        learning_rate=3e-3,
        epochs=8,
        batch_size=8,
        random_state=0,
    ),
)
print([name for name, _ in pipe.steps])

# %%
# Each transformer is stateless, so its output can be inspected directly.
pixels = pipe[:-1].transform(paths[:4])
print(pixels.shape, pixels.dtype, float(pixels.min()), float(pixels.max()))

# %%
# Grid search
# -----------
# Two architectures: one convolution block of 8 filters, or two blocks of
# 16 and 32 filters. Keep ``n_jobs`` at or below the number of
# CPU cores: each worker process imports TensorFlow and trains its own network.
from sklearn.model_selection import GridSearchCV, StratifiedKFold

param_grid = {"happysadclassifier__conv_filters": [(8,), (16, 32)]}
search = GridSearchCV(
    pipe,
    param_grid,
    cv=StratifiedKFold(n_splits=2, shuffle=True, random_state=0),
    scoring="accuracy",
)
search.fit(paths, labels)

for params, mean, std in zip(
    search.cv_results_["params"],
    search.cv_results_["mean_test_score"],
    search.cv_results_["std_test_score"],
):
    print(f"{params}: {mean:.3f} +/- {std:.3f}")
print("best:", search.best_params_, f"score={search.best_score_:.3f}")

# %%
# ``search`` was refitted on all the tuning data with the best parameters, and
# takes paths like any pipeline. Its score on the separate test set is an
# unbiased estimate, unlike ``best_score_``, which picked the winner.
test_accuracy = search.score(test_paths, test_labels)
print(f"test accuracy of the best pipeline: {test_accuracy:.3f}")
print(search.predict(test_paths[:5]), test_labels[:5])

workdir.cleanup()
