"""scikit-learn's estimator checks on every public estimator.

sklearn's checks feed 2-D tabular numbers. skmood's estimators take image
paths or ``(n, height, width, channels)`` pixels and reject tabular input with a
clear error, so every check that needs tabular data to be *accepted* is an
expected failure, listed below with its reason. The checks of the API contract
(``__init__`` stores parameters, ``get_params``/``set_params``/``clone``, tags,
``NotFittedError`` before ``fit``, parameter validation, y checks, sparse and
complex input rejected clearly, ...) run and must pass. The same properties on
*image* input are tested in ``test_classifier.py`` and ``test_transformers.py``.
"""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skmood import HappySadClassifier, ImageLoader, ImageResizer, PixelNormalizer

TABULAR = "feeds 2-D tabular numbers; image estimators take paths or (n, h, w, c) pixels"
NO_FEATURES = "images have no n_features_in_: any image size is accepted and resized"

#: Checks that need tabular X accepted, shared by every skmood estimator.
_SHARED = {
    "check_dict_unchanged": TABULAR + " (image version in test_classifier/test_transformers)",
    "check_dont_overwrite_parameters": TABULAR + " (image version in test_classifier)",
    "check_dtype_object": TABULAR,
    "check_estimators_dtypes": TABULAR,
    "check_estimators_empty_data_messages": TABULAR + "; empty image input is tested",
    "check_estimators_fit_returns_self": TABULAR + " (image version in test_classifier)",
    "check_estimators_nan_inf": TABULAR + "; NaN/inf pixel arrays are rejected and tested",
    "check_estimators_overwrite_params": TABULAR,
    "check_estimators_pickle": TABULAR + " (joblib round trip tested on images)",
    "check_f_contiguous_array_estimator": TABULAR,
    "check_fit2d_1feature": TABULAR,
    "check_fit2d_1sample": TABULAR,
    "check_fit2d_predict1d": TABULAR,
    "check_fit_check_is_fitted": TABULAR,
    "check_fit_idempotent": TABULAR,
    "check_fit_score_takes_y": TABULAR,
    "check_n_features_in": NO_FEATURES,
    "check_n_features_in_after_fitting": NO_FEATURES,
    "check_positive_only_tag_during_fit": TABULAR,
    "check_readonly_memmap_input": TABULAR,
}

_TRANSFORMER = {
    **_SHARED,
    "check_methods_sample_order_invariance": TABULAR + " (image version in test_transformers)",
    "check_methods_subset_invariance": TABULAR + " (image version in test_transformers)",
    "check_pipeline_consistency": TABULAR,
    "check_transformer_data_not_an_array": TABULAR,
    "check_transformer_general": TABULAR,
    "check_transformers_unfitted_stateless": TABULAR + " (stateless use tested on images)",
}

EXPECTED_FAILED_CHECKS = {
    "HappySadClassifier": {
        **_SHARED,
        "check_all_zero_sample_weights_error": TABULAR,
        "check_class_weight_classifiers": TABULAR + "; class_weight tested on images",
        "check_classifier_data_not_an_array": TABULAR,
        "check_classifier_not_supporting_multiclass": TABULAR + "; >2 classes raise (tested)",
        "check_classifiers_classes": TABULAR + "; string/int/bool labels tested on images",
        "check_classifiers_one_label_sample_weights": TABULAR,
        "check_classifiers_train": TABULAR + "; training tested on synthetic faces",
        "check_sample_weight_equivalence_on_dense_data": TABULAR,
        "check_sample_weights_list": TABULAR,
        # Runs only where pandas is installed (the dask extra brings it).
        "check_sample_weights_not_an_array": TABULAR,
        "check_sample_weights_pandas_series": TABULAR + "; a pandas Series of weights is "
        "tested on images",
        "check_sample_weights_not_overwritten": TABULAR,
        "check_sample_weights_shape": TABULAR,
        "check_supervised_y_2d": TABULAR,
    },
    "ImageLoader": {
        **_TRANSFORMER,
        "check_complex_data": "X holds file paths; complex numbers are rejected as non-paths",
        "check_estimator_sparse_array": "sklearn cannot build the 1-D sparse array it means to pass",
        "check_fit1d": "1-D X is this estimator's normal input (a sequence of paths)",
    },
    "ImageResizer": dict(_TRANSFORMER),
    "PixelNormalizer": {
        **_TRANSFORMER,
        "check_fit1d": "scaling pixels is element-wise; any integer array shape is accepted",
    },
}


def _tiny_classifier() -> HappySadClassifier:
    return HappySadClassifier(
        image_size=(8, 8), conv_filters=(4,), dense_units=0, epochs=1, random_state=0
    )


@parametrize_with_checks(
    [_tiny_classifier(), ImageLoader(), ImageResizer(image_size=(8, 8)), PixelNormalizer()],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS[type(est).__name__],
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name", sorted(EXPECTED_FAILED_CHECKS))
def test_every_expected_failure_has_a_reason(name):
    assert all(reason.strip() for reason in EXPECTED_FAILED_CHECKS[name].values())
