"""Keras model builders.

Pure Keras: functions here know nothing of scikit-learn. Each returns an
*uncompiled* :class:`keras.Model` taking float32 images in [0, 1] and giving one
sigmoid unit; the classifier compiles it. Pass your own builder with the same
calling convention as ``HappySadClassifier(model=...)``.

* :func:`build_cnn`, :func:`build_vgg`, :func:`build_resnet`, :func:`build_inception`: networks
  trained from scratch (``HappySadClassifier(architecture=...)``);
* :func:`build_backbone`: a ``keras.applications`` backbone with a new head
  (``HappySadClassifier(backbone=...)``), and :func:`freeze_backbone` to
  choose which of its layers train;
* :func:`augmentation_layers`: the random augmentation every builder starts with;
* :func:`stage_depths`: the depth of each stage from ``blocks_per_stage``.
"""

from __future__ import annotations

from ._architectures import (
    augmentation_layers,
    build_cnn,
    build_inception,
    build_resnet,
    build_vgg,
    inception_branch_widths,
    stage_depths,
)
from ._transfer import build_backbone, freeze_backbone

__all__ = [
    "augmentation_layers",
    "build_backbone",
    "build_cnn",
    "build_inception",
    "build_resnet",
    "build_vgg",
    "freeze_backbone",
    "inception_branch_widths",
    "stage_depths",
]
