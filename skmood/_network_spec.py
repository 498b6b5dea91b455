"""The network the classifier's parameters describe (private).

Pure functions of the estimator's parameters (a mapping such as
``get_params(deep=False)`` returns), so the estimator module keeps only the
orchestration and each rule is tested on its own:

* :func:`network_builder`: which builder of :mod:`skmood.models` makes the
  network, and with which keyword arguments, checking the network parameters
  before anything is built;
* :func:`augmentation` and :func:`pipeline_augmenter`: the augmentation, and
  whether it runs in the network or in the input pipeline;
* :func:`fine_tuning_stages`: the two training stages of a pretrained backbone.

Importing this module does not import Keras (:mod:`skmood.models` loads when
a built-in network is specified).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._backbones import BACKBONE_LAYER, check_input_size, resolve_weights
from ._validation import is_positive_int

if TYPE_CHECKING:
    from ._augment import Augmenter

__all__ = ["ARCHITECTURES", "augmentation", "fine_tuning_stages", "fitted_augmentation",
           "network_builder", "pipeline_augmenter"]

#: The from-scratch networks of ``architecture`` (builders in :mod:`skmood.models`).
ARCHITECTURES = ("seed", "vgg", "resnet", "inception")


def augmentation(params: Mapping[str, Any]) -> dict[str, Any]:
    """The augmentation parameters, as the builders and the ``Augmenter`` take them.

    Examples
    --------
    >>> from skmood._network_spec import augmentation
    >>> augmentation({"rotation": 10, "horizontal_flip": 1, "zoom": 0, "shift": 0.1})
    {'rotation': 10.0, 'horizontal_flip': True, 'zoom': 0.0, 'shift': 0.1}
    """
    return {"rotation": float(params["rotation"]),
            "horizontal_flip": bool(params["horizontal_flip"]),
            "zoom": float(params["zoom"]), "shift": float(params["shift"])}


def fitted_augmentation(network) -> dict[str, Any]:
    """The augmentation a built-in network carries as layers, as :func:`augmentation` gives it.

    Reads the layers that :func:`skmood.models.augmentation_layers` names
    ``flip``, ``rotate``, ``zoom`` and ``shift`` (absent: off); of an
    averaged network (:func:`skmood.average_models`), its first member's.
    """
    from ._ensemble import member_networks

    members = member_networks(network)
    while members:  # an averaged network: its members are built alike; the first one's
        network = members[0]
        members = member_networks(network)
    layers = {layer.name: layer for layer in network.layers}
    rotate, zoom, shift = (layers.get(name) for name in ("rotate", "zoom", "shift"))
    return {"rotation": 360.0 * float(rotate.factor[1]) if rotate is not None else 0.0,
            "horizontal_flip": "flip" in layers,
            "zoom": float(zoom.height_upper) if zoom is not None else 0.0,
            "shift": float(shift.height_upper) if shift is not None else 0.0}


def pipeline_augmenter(params: Mapping[str, Any]) -> Augmenter | None:
    """The input pipeline's augmentation: only for XLA-compiled built-in networks.

    Without ``jit_compile`` the augmentation is layers of the network; a
    user's ``model`` brings its own.
    """
    if not params["jit_compile"] or params["model"] is not None:
        return None
    from ._augment import Augmenter

    return Augmenter(**augmentation(params))


def network_builder(
    params: Mapping[str, Any], input_shape: tuple[int, int, int], seed: int | None, owner: str
) -> tuple[Callable, dict[str, Any]]:
    """Return the model-building callable and its keyword arguments.

    Precedence: ``model`` over ``backbone`` over ``architecture``. Raises
    ``ValueError`` (or ``FileNotFoundError`` for missing backbone weights)
    naming ``owner`` when the parameters cannot make a network for
    ``input_shape``.
    """
    if params["model"] is not None:
        return params["model"], {"input_shape": input_shape}
    from . import models

    # With XLA the augmentation runs in the input pipeline (pipeline_augmenter).
    augment = augmentation(params)
    if params["jit_compile"]:
        augment = {k: type(v)() for k, v in augment.items()}
    common = {
        "input_shape": input_shape,
        "dropout": float(params["dropout"]),
        **augment,
        "seed": seed,
    }
    backbone, weights = params["backbone"], params["weights"]
    if backbone is not None:
        check_input_size(backbone, input_shape, owner)
        # Fail now, naming the missing file, rather than inside the build.
        resolve_weights(backbone, weights, input_shape, params["backbone_alpha"], owner)
        return models.build_backbone, {**common, "backbone": backbone,
                                       "weights": weights,
                                       "alpha": float(params["backbone_alpha"])}
    if weights is not None:
        raise ValueError(
            f"{owner}: weights={weights!r} needs a backbone (weights initialise a "
            f"keras.applications backbone); got backbone=None with architecture="
            f"{params['architecture']!r}. Set backbone, or weights=None (to continue a fitted "
            "network, use warm_start=True)."
        )
    filters = params["conv_filters"]
    if (
        isinstance(filters, (str, bytes))
        or len(filters) == 0
        or not all(is_positive_int(f) for f in filters)
    ):
        raise ValueError(
            f"{owner}: conv_filters must be a non-empty sequence of positive ints, "
            f"got {filters!r}."
        )
    smallest = 2 ** len(filters)
    if min(input_shape[:2]) < smallest:
        raise ValueError(
            f"{owner}: image_size {tuple(input_shape[:2])!r} is too small for "
            f"{len(filters)} convolution blocks (each halves the image); expected at "
            f"least {smallest} pixels per side, or fewer conv_filters."
        )
    common["conv_filters"] = tuple(int(f) for f in filters)
    architecture = params["architecture"]
    if architecture == "seed":
        return models.build_cnn, {**common, "kernel_size": int(params["kernel_size"]),
                                  "dense_units": int(params["dense_units"]),
                                  "batch_norm": bool(params["batch_norm"])}
    try:
        depth = {"blocks_per_stage": models.stage_depths(params["blocks_per_stage"],
                                                         len(filters))}
    except ValueError as exc:
        raise ValueError(f"{owner}: {exc}") from None
    if architecture == "vgg":
        return models.build_vgg, {**common, **depth, "kernel_size": int(params["kernel_size"])}
    if architecture == "resnet":
        return models.build_resnet, {**common, **depth, "kernel_size": int(params["kernel_size"])}
    return models.build_inception, {**common, **depth}


def fine_tuning_stages(
    params: Mapping[str, Any], layer_names: Sequence[str]
) -> list[tuple[int, int, int | str, float]] | None:
    """``[(first epoch, end epoch, backbone layers trained, learning rate)]``.

    ``None`` unless the network (whose layers are named ``layer_names``) is a
    pretrained backbone, which then has a ``"backbone"`` layer: such networks
    train in two stages, the head alone for ``head_epochs``, then with the top
    ``fine_tune_layers`` layers of the backbone. Empty stages are left out.

    Examples
    --------
    >>> from skmood import HappySadClassifier
    >>> from skmood._network_spec import fine_tuning_stages
    >>> params = HappySadClassifier(backbone="mobilenetv2", weights="imagenet", epochs=10,
    ...                             head_epochs=4, fine_tune_layers=20).get_params()
    >>> fine_tuning_stages(params, ["input", "backbone", "gap", "output"])
    [(0, 4, 0, 0.001), (4, 10, 20, 1e-05)]
    """
    if params["model"] is not None or params["backbone"] is None or params["weights"] is None:
        return None
    if BACKBONE_LAYER not in set(layer_names):
        return None
    epochs = params["epochs"]
    head = epochs if params["head_epochs"] is None else int(params["head_epochs"])
    stages = [(0, head, 0, params["learning_rate"]),
              (head, epochs, params["fine_tune_layers"], params["fine_tune_learning_rate"])]
    return [stage for stage in stages if stage[1] > stage[0]]
