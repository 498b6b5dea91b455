"""HappySadClassifier: a scikit-learn classifier around a Keras CNN."""

from __future__ import annotations

import logging
import os
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_random_state

from . import _cache, _distribute, _inference, _network_spec, _precision, _progress, _training
from ._backbones import BACKBONES
from ._compat import HasMethods, Interval, StrOptions, _fit_context
from ._distribute import DISTRIBUTIONS  # also importable from here (the CLI's choices)
from ._face_boxes import FaceBoxes, face_cropper, input_faces
from ._face_crop import DETECTORS
from ._image import COLOR_MODES
from ._inference import INFERENCE_ENGINES  # also importable from here (the CLI's choices)
from ._network_spec import ARCHITECTURES  # also importable from here (the CLI's choices)
from ._precision import PRECISIONS  # also importable from here (the CLI's choices)
from ._validation import ON_ERROR  # also importable from here (the CLI's choices)
from ._validation import check_image_size, check_images
from .exceptions import DatasetError, NotFittedError, SkmoodWarning

logger = logging.getLogger(__name__)

__all__ = ["HappySadClassifier"]

_NAME = "HappySadClassifier"
#: Batch size used for inference (memory stays bounded; bigger is faster).
_PREDICT_BATCH_SIZE = 256
#: Learning-rate schedules of ``lr_schedule``.
LR_SCHEDULES = ("constant", "cosine")


def _short(value) -> str:
    """An augmentation setting as a message shows it: ``True``, ``10``, ``0.2``."""
    return repr(value) if isinstance(value, bool) else f"{value:g}"


class HappySadClassifier(ClassifierMixin, BaseEstimator):
    """Classify face images as happy or sad with a convolutional network.

    A scikit-learn classifier around a Keras CNN, built and compiled through
    scikeras. It fits directly on image *file paths*, decoding, resizing and
    normalising them batch by batch (memory bounded by ``batch_size``), or on
    pixel arrays such as :class:`~skmood.PixelNormalizer` returns.

    The default network is the original recipe's: three blocks of 3x3
    convolution (32, 64, 128 filters, ReLU) and 2x2 max pooling, a dense layer of
    128 units, one sigmoid output, binary cross-entropy and Adam, on 128x128 RGB
    input. ``architecture`` picks a compact residual or Inception-style network
    instead, and ``backbone`` a ``keras.applications`` network (ResNet50,
    InceptionV3, MobileNetV2, EfficientNetB0) with local pretrained ``weights``
    and two-stage fine-tuning.

    Parameters
    ----------
    model : callable or None, default=None
        Your own network: ``model(input_shape=(height, width, channels))`` returning a
        :class:`keras.Model` with one sigmoid output (probability of
        ``classes_[1]``) or two softmax outputs. Uncompiled models are compiled
        with Adam(``learning_rate``) and the matching cross-entropy. When set,
        the network parameters below (``architecture`` to ``zoom``) are
        ignored. Use a module-level function or :func:`functools.partial`
        so the estimator stays picklable.
    architecture : {"seed", "vgg", "resnet", "inception"}, default="seed"
        The network trained from scratch. ``"seed"``: the original recipe's
        CNN (:func:`~skmood.models.build_cnn`). ``"vgg"``: stages of
        convolutions with batch norm, the network of the recommended
        configuration (:func:`~skmood.models.build_vgg`,
        :func:`~skmood.recommended_params`). ``"resnet"``: a compact residual
        network (:func:`~skmood.models.build_resnet`). ``"inception"``: a compact
        Inception-style network (:func:`~skmood.models.build_inception`). All
        take their width from ``conv_filters`` (one stage per entry) and all but
        ``"seed"`` their depth from ``blocks_per_stage``; ignored when
        ``backbone`` is set.
    backbone : {"mobilenetv2", "efficientnetb0", "resnet50", "inceptionv3", "onet"} \
or None, default=None
        A ``keras.applications`` network (without its ImageNet top) under a new
        head: global average pooling, ``dropout`` and one sigmoid unit
        (:func:`~skmood.models.build_backbone`); or ``"onet"``, the face network
        of the MTCNN detector (48x48 faces to 256 features), under ``dropout``
        and one sigmoid unit. Its input preprocessing is
        built in, grayscale is repeated to three channels, and ``image_size``
        must be at least 75x75 for ``"inceptionv3"``, 32x32 for the others
        and exactly 48x48 for ``"onet"``.
        Takes precedence over ``architecture``.
    weights : None, "imagenet", "mtcnn" or path, default=None
        Initial weights of the ``backbone``. ``None``: random, and the whole
        network trains from the first epoch (``head_epochs``,
        ``fine_tune_layers`` and ``fine_tune_learning_rate`` do not apply).
        ``"imagenet"``: the Keras ImageNet file, read from the local Keras cache
        ``$KERAS_HOME/models/`` (default ``~/.keras/models/``); skmood never
        downloads, and a missing file raises ``FileNotFoundError`` naming the
        file and the folder. ``"mtcnn"`` (``"onet"`` only): MTCNN's own
        weights, trained on faces, read from the installed ``mtcnn`` package.
        A path: a ``.weights.h5`` or ``.h5`` file of the
        backbone's weights. Only with a ``backbone``.
    backbone_alpha : float, default=1.0
        Width multiplier of the ``"mobilenetv2"`` backbone (its ``alpha``);
        ImageNet weights exist for 0.35, 0.5, 0.75, 1.0, 1.3 and 1.4. Ignored
        by the other backbones, whose widths are fixed.
    image_size : tuple of (int, int), default=(128, 128)
        Network input ``(height, width)``; every image is resized to it.
    color_mode : {"rgb", "grayscale"}, default="rgb"
        Network input channels (3 or 1). Images of the other mode are converted.
    conv_filters : tuple of int, default=(32, 64, 128)
        Width of each stage of the ``architecture`` (one stage per entry, each
        halving the image): the filters of each convolution block of
        ``"seed"`` and ``"vgg"``, of the residual blocks of ``"resnet"``, the
        output channels of the Inception modules of ``"inception"``.
    blocks_per_stage : int or tuple of int, default=2
        Depth: convolutions (``"vgg"``), residual blocks (``"resnet"``) or
        Inception modules (``"inception"``) per stage, the same for every
        stage or one per entry of ``conv_filters`` (e.g. ``(1, 1, 2, 2)``:
        single convolutions at the two large resolutions, where they cost
        most); ``"seed"`` has one convolution per block.
    kernel_size : int, default=3
        Side of the square convolution kernels (``"seed"``, ``"vgg"`` and
        ``"resnet"``).
    dense_units : int, default=128
        Width of the hidden dense layer of ``"seed"`` (0 to leave it out); the
        other networks end in global average pooling.
    dropout : float, default=0.0
        Dropout rate before the output layer (every network).
    batch_norm : bool, default=False
        Batch normalisation after each convolution of ``"seed"``; the other
        networks always have it.
    rotation : float, default=0.0
        Augmentation: random rotation of up to this many degrees either way.
    horizontal_flip : bool, default=False
        Augmentation: random left-right mirroring.
    zoom : float, default=0.0
        Augmentation: random zoom in or out by up to this fraction.
    shift : float, default=0.0
        Augmentation: random translation by up to this fraction of the height
        and of the width.
    learning_rate : float, default=1e-3
        Adam's learning rate (in the first stage with a pretrained backbone);
        the peak rate with ``lr_schedule="cosine"``.
    lr_schedule : {"constant", "cosine"}, default="constant"
        ``"cosine"``: warm up linearly from 0 to ``learning_rate`` over the
        first epoch, then decay along a cosine to 1 % of it at the last epoch
        (``keras.optimizers.schedules.CosineDecay``); per fine-tuning stage.
    weight_decay : float, default=0.0
        Decoupled weight decay; above 0 the optimizer is AdamW instead of Adam.
    label_smoothing : float, default=0.0
        Targets become ``label_smoothing / 2`` and ``1 - label_smoothing / 2``
        in the binary cross-entropy, which discourages over-confident
        networks (networks with one sigmoid output).
    epochs : int, default=10
        Passes over the training data (fewer with early stopping), both
        fine-tuning stages together.
    head_epochs : int or None, default=None
        Pretrained backbone, stage 1: epochs training the new head only, the
        backbone frozen, at ``learning_rate``. ``None`` means all ``epochs``
        (no stage 2). Must not exceed ``epochs``.
    fine_tune_layers : int or "all", default=0
        Pretrained backbone, stage 2 (the remaining ``epochs - head_epochs``
        epochs): how many top layers of the backbone train too (0 keeps it
        frozen). Its batch-norm layers stay frozen, in inference mode.
    fine_tune_learning_rate : float, default=1e-5
        Adam's learning rate in stage 2; keep it low so that the pretrained
        features are adjusted, not overwritten.
    batch_size : int, default=32
        Images per training step; also bounds the images held in memory.
    jit_compile : bool, default=False
        Compile the network with XLA (``keras.Model.compile(jit_compile=True)``).
        Keras' random augmentation layers cannot be compiled, so the
        augmentation (``rotation``, ``horizontal_flip``, ``zoom``, ``shift``)
        then runs in the input pipeline instead, on the decoded batches (same
        transformations): with augmentation on, the ``"vgg"`` network of
        :func:`~skmood.recommended_params` trains about 1.5 times as fast on a
        CPU, mostly because the augmentation leaves the network.
    precision : {"auto", "float32", "mixed_bfloat16", "mixed_float16"}, \
default="auto"
        Floating-point precision of training: the network is built under this
        Keras dtype policy. ``"float32"``: everything in 32 bits.
        ``"mixed_bfloat16"``: the layers compute in bfloat16 while the weights,
        the output layer (so the probabilities) and the loss stay float32;
        fast on processors with bfloat16 instructions (``avx512_bf16`` or
        ``amx_bf16``) and on GPUs of compute capability 8.0 or higher, slower
        elsewhere. ``"mixed_float16"``: the same in float16, for GPUs (on a
        CPU it is slow), with a loss-scaled optimizer
        (``keras.optimizers.LossScaleOptimizer``). ``"auto"``:
        ``"mixed_bfloat16"`` where the hardware runs it fast (the GPU when
        TensorFlow sees one, else the processor's flags in ``/proc/cpuinfo``),
        ``"float32"`` elsewhere and for a ``model`` of your own; the choice is
        logged at INFO level (``skmood`` logger) and printed with ``verbose``.
        A warm start continues in the fitted network's precision, except
        where this parameter chooses float32: a mixed-precision network (the
        pretrained model's, trained in bfloat16) is then rebuilt in float32
        with the same weights and a new optimizer state, since emulated
        bfloat16 is about 5x as slow. LiteRT
        (``inference``) runs a float32 copy of a mixed-precision network.
    distribution : {"mirrored", "multi_worker"}, tf.distribute.Strategy or \
None, default=None
        Train on several devices with ``tf.distribute``: the network is built,
        compiled and trained inside the strategy's scope, its variables
        mirrored on every replica; each step splits ``batch_size`` (the
        *global* batch) between the replicas and sums their gradients, so
        scale ``batch_size`` (and perhaps ``learning_rate``) with the number
        of replicas. ``"mirrored"``: ``tf.distribute.MirroredStrategy`` over
        every GPU of this machine (without GPUs, over every logical CPU
        device). ``"multi_worker"``: ``MultiWorkerMirroredStrategy`` across
        machines, configured by the ``TF_CONFIG`` environment variable; it
        must be created before TensorFlow runs anything else in the process
        (otherwise create it yourself at the start of the program and pass
        it). Both are made once per process. Or your own
        ``tf.distribute.Strategy``: :func:`skmood.save` stores only the names
        (a strategy object is left out, with a warning, and loads as None),
        and an estimator holding one cannot be pickled. ``None``: TensorFlow's
        default placement (one device). A warm start needs the network built
        under the same strategy. See the user guide, "Scaling out".
    class_weight : dict, "balanced" or None, default=None
        Weights per class label (e.g. ``{"happy": 1.0, "sad": 1.5}``), or
        ``"balanced"`` for weights inversely proportional to class frequencies.
    validation_split : float, default=0.0
        Fraction of the training data held out (stratified, shuffled with
        ``random_state``) to report ``val_loss``/``val_accuracy`` each epoch.
    validation_data : tuple (X_val, y_val) or None, default=None
        Separate validation images (paths or pixels) and labels; used instead of
        ``validation_split`` when given.
    early_stopping : bool, default=False
        Stop when the validation loss has not improved for ``patience`` epochs
        and keep the best weights (within each fine-tuning stage). Needs
        ``validation_split`` or ``validation_data``.
    patience : int, default=5
        Epochs without improvement before early stopping.
    flip_averaging : bool, default=False
        Test-time augmentation: ``predict_proba`` averages the probabilities of
        each image and of its mirror image (twice the inference work, often a
        little more accurate on faces).
    inference : {"auto", "keras", "litert", "litert-int8"}, default="auto"
        What runs the fitted network in ``predict_proba``. ``"keras"``:
        Keras (``Model.predict_on_batch``). ``"litert"``: the network converted
        to LiteRT (TensorFlow Lite) and run by its XNNPACK CPU kernels, up to
        2.3 times as fast as Keras for the same probabilities (equal to
        float32 rounding; the gain depends on the network and the processor,
        and was nil on one benchmark machine); the conversion takes a second or two,
        once per set of weights, and is cached, never saved or pickled.
        ``"litert-int8"``: the same with the weights quantized to int8
        (dynamic-range quantization, no calibration data) and integer
        kernels: about 3 times as fast again for a VGG-style network, with
        probabilities close to, not equal to, the float network's (see the
        benchmarks page for the accuracy measured). ``"auto"``: float LiteRT
        for calls on at least 4,096 images, Keras for smaller ones, and Keras
        (with a warning) if the network cannot be converted.
    on_error : {"raise", "skip"}, default="raise"
        What an unreadable image file does. ``"raise"``: an
        :class:`~skmood.ImageReadError` naming the file. ``"skip"``: ``fit``
        decodes every file once first and leaves out the unreadable ones (with
        their labels), warning once with the count and the first five;
        ``predict_proba`` keeps every row and gives NaN for unreadable files, and
        ``predict`` gives ``None`` for them. Rows are never dropped at prediction.
    cache : "auto", bool, default="auto"
        Keep the decoded images in memory during ``fit`` when ``X`` (and
        ``validation_data``) are file paths. ``True``: every file is decoded and
        resized once per fit, in the first epoch (or in ``on_error="skip"``'s
        check), and later epochs read the uint8 images from memory
        (``n_images * height * width * channels`` bytes); augmentation still
        differs per epoch. ``False``: every epoch decodes its batches from the
        files again, memory bounded by ``batch_size``. ``"auto"``: ``True``
        when the decoded images of the fit take at most
        ``skmood._cache.CACHE_BUDGET`` bytes (1 GiB; 12,045 48x48 grayscale
        faces take 28 MB), else ``False``. The cache is dropped when ``fit``
        returns: the fitted estimator and its pickle do not grow. Pixel arrays
        are in memory already and are not copied.
    face_detector : {"haar", "mtcnn"} or None, default=None
        Crop every image to its largest face, at training *and* at prediction
        time, inside the model (see :class:`~skmood.FaceCropper` for the two
        detectors, both in the core install): decode, find the face, crop it with
        ``face_margin``, resize to ``image_size``. For photos where the face
        does not fill the frame. Each face is detected once per image per
        fit, never once per epoch. An image where no face is found is used
        whole. The detector is part of the fitted model: saved files,
        ``skmood predict`` and ``skmood serve`` crop the same way without
        being told. :meth:`detect_faces` gives the boxes used.
    face_margin : float, default=0.2
        Space added around the face on each side, as a fraction of its size
        (0.2 makes the crop 1.4 times as wide as the face); with
        ``face_detector``.
    warm_start : bool, default=False
        When ``True`` and the estimator is fitted, ``fit`` continues training
        the fitted network (weights and optimizer state) for ``epochs`` more
        epochs instead of building a new one, e.g. to adapt a model to a small
        new photo set or resume an interrupted run. ``history_`` is extended and
        the current ``learning_rate`` applies (lower it to fine-tune). Classes
        and input shape must match the fitted network; architecture parameters
        are those of the fitted network, and so is the augmentation
        (``rotation``, ``horizontal_flip``, ``zoom``, ``shift``), which is
        layers of the network unless ``jit_compile`` (then the input pipeline
        augments as asked): ``fit`` warns (:class:`~skmood.SkmoodWarning`)
        when a warm start cannot augment as these parameters say. With a
        pretrained ``backbone`` each fit runs both fine-tuning stages again,
        with a new optimizer per stage.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights' initialisation, the augmentation, the shuffling and
        the validation split. When set, ``fit`` also seeds Python's, NumPy's and
        TensorFlow's *global* generators (``keras.utils.set_random_seed``), so
        that two fits give the same model in the same environment.
    verbose : int, default=0
        0 is silent, 1 shows Keras' progress bar, 2 one line per epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels, sorted; ``predict_proba`` columns follow this order.
    model_ : keras.Model
        The trained network.
    keras_classifier_ : scikeras.wrappers.KerasClassifier
        The scikeras wrapper that built and compiled ``model_``.
    history_ : dict of str to list of float
        Per-epoch training metrics (``loss``, ``accuracy``, and ``val_*`` with
        validation), over both fine-tuning stages.
    input_shape_ : tuple of (int, int, int)
        ``(height, width, channels)`` the network takes.
    n_iter_ : int
        Number of epochs run (all fits together with ``warm_start``).

    See Also
    --------
    skmood.ImageLoader, skmood.ImageResizer, skmood.PixelNormalizer :
        The same preprocessing as separate pipeline steps.
    skmood.load_image_folder : List images of a folder per class.

    Notes
    -----
    ``X`` may be a sequence of paths of shape ``(n_samples,)`` or
    ``(n_samples, 1)`` (what imbalanced-learn samplers pass), a pixel array of
    shape ``(n_samples, height, width, channels)`` (uint8 0-255 or float 0-1), or
    a sequence of decoded images. Pixel arrays of another size are resized to
    ``image_size`` batch by batch, also at prediction time. Paths may be URLs
    (``"s3://bucket/x.png"``), read through fsspec (:ref:`object-storage`).

    Precedence: ``model`` over ``backbone`` over ``architecture``. With a
    pretrained backbone (``weights`` not ``None``) training follows the Keras
    transfer-learning recipe: stage 1 trains the head with the backbone frozen
    for ``head_epochs``; stage 2 unfreezes the top ``fine_tune_layers`` layers
    and continues at ``fine_tune_learning_rate``. The network is recompiled
    (same loss and metrics, a new Adam) at the start of each stage. See the
    user guide on architectures.

    Interrupting ``fit`` (``KeyboardInterrupt``, Ctrl-C) re-raises the
    interrupt, but first leaves the estimator usable: ``model_`` keeps the
    weights reached so far, ``history_`` and ``n_iter_`` describe the epochs
    that completed, so predictions work and nothing trained is lost.

    ``predict``/``predict_proba`` may be called from several threads at once on
    one fitted estimator.

    Effects on your whole process, each at most once: when skmood first needs
    Keras (a fit, a prediction or a load) it sets ``KERAS_BACKEND=tensorflow``
    if that variable is unset (a value you set is kept; skmood needs
    ``tensorflow``). On Linux with glibc, TensorFlow's first ``from_generator``
    dataset (every fit runs one) freezes malloc's mmap threshold at 128 KiB;
    the first ``fit`` starts one itself, then sets glibc's mmap and trim
    thresholds to 32 and 64 MiB (training up to 1.58 times as fast); set
    ``SKMOOD_MALLOC_TUNING=0`` before it to keep TensorFlow's setting.
    TensorFlow's op determinism stays as you set it: the first seeded ``fit``
    has TensorFlow read ``TF_DETERMINISTIC_OPS`` before scikeras' seeded build,
    which would otherwise leave determinism on; to have it on, call
    ``tf.config.experimental.enable_op_determinism()``. See the user guide
    (randomness, streaming).

    Examples
    --------
    >>> from skmood import HappySadClassifier
    >>> from skmood.datasets import make_faces
    >>> X, y = make_faces(40, image_size=(32, 32), random_state=0)
    >>> clf = HappySadClassifier(image_size=(32, 32), conv_filters=(8,), dense_units=16,
    ...                          epochs=1, random_state=0).fit(X, y)
    >>> clf.classes_
    array(['happy', 'sad'], dtype=object)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints: dict = {
        "model": [callable, None],
        "architecture": [StrOptions(set(ARCHITECTURES))],
        "backbone": [StrOptions(set(BACKBONES)), None],
        "weights": [str, os.PathLike, None],
        "backbone_alpha": [Interval(Real, 0, None, closed="neither")],
        "image_size": ["array-like"],
        "color_mode": [StrOptions(set(COLOR_MODES))],
        "conv_filters": ["array-like"],
        "blocks_per_stage": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "dense_units": [Interval(Integral, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "rotation": [Interval(Real, 0, 180, closed="both")],
        "horizontal_flip": ["boolean"],
        "zoom": [Interval(Real, 0, 1, closed="left")],
        "shift": [Interval(Real, 0, 1, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "head_epochs": [Interval(Integral, 0, None, closed="left"), None],
        "fine_tune_layers": [Interval(Integral, 0, None, closed="left"), StrOptions({"all"})],
        "fine_tune_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "jit_compile": ["boolean"],
        "precision": [StrOptions(set(PRECISIONS))],
        "distribution": [StrOptions(set(DISTRIBUTIONS)), HasMethods(["scope", "run"]), None],
        "flip_averaging": ["boolean"],
        "inference": [StrOptions(set(INFERENCE_ENGINES))],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "validation_split": [Interval(Real, 0, 1, closed="left")],
        "validation_data": [tuple, None],
        "early_stopping": ["boolean"],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "on_error": [StrOptions(set(ON_ERROR))],
        "cache": [StrOptions({"auto"}), "boolean"],
        "face_detector": [StrOptions(set(DETECTORS)), None],
        "face_margin": [Interval(Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        model=None,
        architecture="seed",
        backbone=None,
        weights=None,
        backbone_alpha=1.0,
        image_size=(128, 128),
        color_mode="rgb",
        conv_filters=(32, 64, 128),
        blocks_per_stage=2,
        kernel_size=3,
        dense_units=128,
        dropout=0.0,
        batch_norm=False,
        rotation=0.0,
        horizontal_flip=False,
        zoom=0.0,
        shift=0.0,
        learning_rate=1e-3,
        lr_schedule="constant",
        weight_decay=0.0,
        label_smoothing=0.0,
        epochs=10,
        head_epochs=None,
        fine_tune_layers=0,
        fine_tune_learning_rate=1e-5,
        batch_size=32,
        jit_compile=False,
        precision="auto",
        distribution=None,
        class_weight=None,
        validation_split=0.0,
        validation_data=None,
        early_stopping=False,
        patience=5,
        flip_averaging=False,
        inference="auto",
        on_error="raise",
        cache="auto",
        face_detector=None,
        face_margin=0.2,
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.architecture = architecture
        self.backbone = backbone
        self.weights = weights
        self.backbone_alpha = backbone_alpha
        self.image_size = image_size
        self.color_mode = color_mode
        self.conv_filters = conv_filters
        self.blocks_per_stage = blocks_per_stage
        self.kernel_size = kernel_size
        self.dense_units = dense_units
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.rotation = rotation
        self.horizontal_flip = horizontal_flip
        self.zoom = zoom
        self.shift = shift
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.epochs = epochs
        self.head_epochs = head_epochs
        self.fine_tune_layers = fine_tune_layers
        self.fine_tune_learning_rate = fine_tune_learning_rate
        self.batch_size = batch_size
        self.jit_compile = jit_compile
        self.precision = precision
        self.distribution = distribution
        self.class_weight = class_weight
        self.validation_split = validation_split
        self.validation_data = validation_data
        self.early_stopping = early_stopping
        self.patience = patience
        self.flip_averaging = flip_averaging
        self.inference = inference
        self.on_error = on_error
        self.cache = cache
        self.face_detector = face_detector
        self.face_margin = face_margin
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, callbacks=None, face_boxes=None):
        """Train the network on images and labels.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, 1), or ndarray of \
shape (n_samples, height, width, channels)
            Image file paths, or pixel arrays (uint8 0-255 or float 0-1).
        y : array-like of shape (n_samples,)
            Two class labels: strings (e.g. ``"happy"``/``"sad"``), ints or bools.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights, multiplied with ``class_weight``.
        callbacks : list of keras.callbacks.Callback, default=None
            Extra Keras callbacks for this fit (e.g. checkpoints, TensorBoard).
            Passed to ``fit`` rather than the constructor, so the estimator stays
            clonable and picklable.
        face_boxes : sequence of (x, y, width, height) or None, default=None
            With ``face_detector``: faces already known, one entry per image
            of ``X`` (``None``: find it). E.g. images that are face crops
            already (FER2013's 48x48 faces) can be given their whole frame,
            ``(0, 0, 48, 48)``, and are then not searched.

        Returns
        -------
        self : HappySadClassifier
            The fitted classifier.
        """
        with _distribute.scope(self.distribution, _NAME):  # nothing when distribution=None
            return self._fit(X, y, sample_weight, callbacks, face_boxes)

    def _fit(self, X, y, sample_weight, callbacks, face_boxes):
        from . import _keras_backend as backend

        classes, y_enc = _training.encode_targets(y, _NAME)
        data = check_images(X, _NAME)
        if len(y_enc) != len(data):
            raise DatasetError(
                f"{_NAME}: X and y have different lengths: {len(data)} images but "
                f"{len(y_enc)} labels."
            )
        image_size = check_image_size(self.image_size, _NAME)
        input_shape = (*image_size, COLOR_MODES[self.color_mode])
        if self.head_epochs is not None and self.head_epochs > self.epochs:
            raise ValueError(
                f"{_NAME}: head_epochs={self.head_epochs!r} is more than epochs="
                f"{self.epochs!r}; expected at most epochs (the head-only stage counts "
                "among the epochs)."
            )
        seed = self._seed()
        warm = self.warm_start and hasattr(self, "model_")
        # A warm start continues the fitted network: nothing to build, no weights to read.
        build_fn, build_kwargs = (None, None) if warm else _network_spec.network_builder(
            self.get_params(deep=False), input_shape, seed, _NAME)
        weights = _training.sample_weights(y_enc, classes, self.class_weight, sample_weight,
                                           _NAME)
        if self.validation_data is not None:
            train = _training.Split(data, y_enc, weights, np.arange(len(data)))
            val = _training.validation_data(self.validation_data, classes, _NAME)
        else:
            train, val = _training.validation_split(data, y_enc, weights,
                                                    self.validation_split, seed, _NAME)
        if self.early_stopping and val is None:
            raise ValueError(
                f"{_NAME}: early_stopping=True needs validation data; set validation_split "
                "(e.g. 0.1) or validation_data."
            )
        # Face boxes and decoded images kept for this fit only (local, never attributes):
        # each face is detected once per image per fit, each file decoded once.
        faces = {}
        if self.face_detector is not None:
            cropper = face_cropper(self.face_detector, self.face_margin)
            sources = [train.data] + ([] if val is None else [val.data])
            faces = {id(d): FaceBoxes(cropper) for d in sources}
            faces[id(data)] = FaceBoxes(cropper, _training.known_boxes(face_boxes, len(data),
                                                                       _NAME))
        elif face_boxes is not None:
            raise ValueError(f"{_NAME}: face_boxes needs face_detector; this model has "
                             "face_detector=None and trains on whole images.")
        caches = _cache.fit_caches(self.cache, [train.data, None if val is None else val.data],
                                   image_size, self.color_mode, faces)
        if self.on_error == "skip":
            train, val = _training.skip_unreadable(train, val, self.color_mode, _NAME,
                                                   caches=caches)
        else:  # fail fast, before any training, on files that are not there at all
            _training.check_files_exist(train.data, _NAME)
            if val is not None and val.data is not train.data:
                _training.check_files_exist(val.data, f"{_NAME} (validation_data)")

        if seed is not None:
            backend.set_random_seed(seed)
        steps = -(-len(train.indices) // int(self.batch_size))  # per epoch
        if warm:
            self._check_warm_start(classes, input_shape)
            self._warn_kept_augmentation()
            self._warm_precision(backend)
        else:
            self._build(backend, build_fn, build_kwargs, classes, input_shape, seed,
                        backend.learning_rate(self.learning_rate, self.lr_schedule,
                                              self.epochs, steps),
                        self._dtype_policy(backend))
        callbacks = list(callbacks or [])
        stages = _network_spec.fine_tuning_stages(self.get_params(deep=False),
                                                  [layer.name for layer in self.model_.layers])
        if stages is None:  # one stage: the network as built (or as fitted)
            if warm:
                backend.set_learning_rate(self.model_, backend.learning_rate(
                    self.learning_rate, self.lr_schedule, self.epochs, steps))
            self._train(backend, train, val, seed, callbacks, caches=caches, faces=faces)
            return self
        from .models import freeze_backbone

        for start, stop, trainable_layers, learning_rate in stages:
            # Changing which layers train needs a recompile (new optimizer, same
            # loss and metrics) before Keras' training loop sees it.
            freeze_backbone(self.model_, trainable_layers)
            backend.recompile(self.model_, backend.learning_rate(
                learning_rate, self.lr_schedule, stop - start, steps))
            self._train(backend, train, val, seed, callbacks, caches=caches, faces=faces,
                        initial_epoch=start, epochs=stop)
        return self

    def _check_warm_start(self, classes, input_shape):
        _distribute.check_warm_start(self.model_, self.distribution, _NAME)
        if not np.array_equal(classes, self.classes_) or tuple(input_shape) != self.input_shape_:
            raise ValueError(
                f"{_NAME}: warm_start=True continues the fitted network, which takes "
                f"{self.input_shape_!r} images of classes {list(self.classes_)}; got "
                f"{tuple(input_shape)!r} and {list(classes)}. Set warm_start=False to start over."
            )

    def _warn_kept_augmentation(self):
        """Warn when a warm start cannot augment as its parameters ask.

        Without ``jit_compile`` the augmentation is layers of the network
        (:func:`skmood.models.augmentation_layers`), which a warm start
        keeps: new ``rotation``/``horizontal_flip``/``zoom``/``shift`` values
        would otherwise be ignored without a word. With ``jit_compile`` the
        input pipeline augments as asked, and a network fitted without it
        would augment a second time with its layers.
        """
        if self.model is not None:
            return
        fitted = _network_spec.fitted_augmentation(self.model_)
        if self.jit_compile:
            layers = {k: v for k, v in fitted.items() if v}
            if layers:
                held = ", ".join(f"{k}={_short(v)}" for k, v in sorted(layers.items()))
                warnings.warn(
                    f"{_NAME}: warm_start=True with jit_compile=True augments twice: in the "
                    f"input pipeline as asked, and in the fitted network's layers ({held}). "
                    "Set jit_compile=False to keep the network's augmentation only.",
                    SkmoodWarning, stacklevel=4)
            return
        asked = _network_spec.augmentation(self.get_params(deep=False))
        changed = {k: v for k, v in asked.items() if not np.isclose(float(v), fitted[k])}
        if changed:
            kept = ", ".join(f"{k}={_short(fitted[k])}" for k in sorted(changed))
            new = ", ".join(f"{k}={v!r}" for k, v in sorted(changed.items()))
            warnings.warn(
                f"{_NAME}: warm_start=True keeps the fitted network's augmentation ({kept}); "
                f"{new} has no effect. Set warm_start=False to build a new network"
                + ("" if any(fitted.values()) else
                   ", or jit_compile=True to augment in the input pipeline") + ".",
                SkmoodWarning, stacklevel=4)

    def _warm_precision(self, backend):
        """Before a warm start: a mixed-precision network continues in float32 if asked.

        When ``precision`` chooses float32 here (``"auto"`` on hardware
        without fast bfloat16, e.g. fine-tuning the pretrained model, trained
        in bfloat16, on a laptop) a network fitted in mixed precision is
        rebuilt under the float32 policy with the same weights (which mixed
        policies keep in float32) and a new optimizer: emulated bfloat16 runs
        about 5x slower than float32. Otherwise the fitted network keeps its
        policy.
        """
        from ._litert import float32_network, reduced_precision_policies

        mixed = reduced_precision_policies(self.model_)
        if not mixed or self._dtype_policy(backend) != "float32":
            return
        network = float32_network(self.model_)
        network.compile_from_config(self.model_.get_compile_config())
        backend.recompile(network, float(self.learning_rate))  # no loss scaling in float32
        message = (f"{_NAME}: warm start: the fitted network computes in "
                   f"{' and '.join(mixed)}; it continues in float32 "
                   "(same weights, new optimizer state).")
        logger.info(message)
        if self.verbose:
            backend.print_msg(message)
        self._restore_fitted(network, classes=self.classes_, input_shape=self.input_shape_,
                             history=self.history_)

    def _dtype_policy(self, backend):
        """The Keras dtype policy ``precision`` names here (logged, printed with verbose)."""
        return _precision.resolve_precision(self.precision, _NAME,
                                            own_model=self.model is not None,
                                            report=backend.print_msg if self.verbose else None)

    def _build(self, backend, build_fn, build_kwargs, classes, input_shape, seed,
               learning_rate, dtype_policy="float32"):
        """Build and compile a new network through scikeras, under ``dtype_policy``."""
        keras_classifier = backend.make_keras_classifier(
            build_fn,
            build_kwargs,
            label_smoothing=float(self.label_smoothing),
            learning_rate=learning_rate,
            weight_decay=float(self.weight_decay),
            jit_compile=bool(self.jit_compile),
            dtype_policy=dtype_policy,
            random_state=seed,
            X_probe=np.zeros((2, *input_shape), np.float32),
            y_probe=classes,
        )
        self._restore_fitted(keras_classifier.model_, classes=classes, input_shape=input_shape,
                             history={}, keras_classifier=keras_classifier)

    def _restore_fitted(self, network, *, classes, input_shape, history,
                        keras_classifier=None):
        """Set every fitted attribute from a network: the one place that does.

        Used by ``fit`` (a new network), :func:`skmood.load` (a network read
        from a file; the CLI's resume and warm start go through it),
        :func:`skmood.average_models` (the members' networks in one) and
        nothing else; ``history_``/``n_iter_`` then grow epoch by epoch
        (:meth:`_history_recorder`).
        """
        from . import _keras_backend as backend

        self.classes_ = classes
        self.input_shape_ = tuple(int(v) for v in input_shape)
        self.model_ = network
        self.keras_classifier_ = keras_classifier or backend.wrap_fitted_model(
            network, X_probe=np.zeros((2, *self.input_shape_), np.float32), y_probe=classes)
        self.history_ = {k: [float(v) for v in values] for k, values in history.items()}
        self.n_iter_ = len(self.history_.get("loss", []))
        if self.jit_compile:  # Keras saves the compile arguments, not this later setting
            network.jit_compile = True
        return self

    def _sequence(self, split, **kwargs):
        """A streaming Keras dataset over a :class:`~skmood._training.Split`."""
        from ._sequence import ImageSequence

        return ImageSequence(
            split.data,
            y=split.y,
            sample_weight=split.weights,
            indices=split.indices,
            image_size=self.input_shape_[:2],
            color_mode="rgb" if self.input_shape_[2] == 3 else "grayscale",
            workers=2 if split.data.kind == "paths" else 1,
            **kwargs,
        )

    def _train(self, backend, train, val, seed, extra_callbacks, *, caches=None, faces=None,
               initial_epoch=0, epochs=None):
        """Run Keras' training loop; the history is recorded after every epoch.

        ``caches`` (:func:`skmood._cache.fit_caches`) hold decoded images by
        ``id`` of the split's data, to reuse across epochs and stages.
        """
        caches, faces = caches or {}, faces or {}
        # First, so that the callbacks after it (e.g. the CLI's checkpoints) see
        # the fitted state of the epoch that just ended.
        callbacks = [backend.epoch_end_callback(self._history_recorder()),
                     backend.EpochLogger(self.epochs)]
        if self.early_stopping:
            callbacks.append(backend.early_stopping(self.patience))
        callbacks += extra_callbacks
        try:
            self.model_.fit(
                self._sequence(train, batch_size=self.batch_size, shuffle=True, seed=seed,
                               augment=_network_spec.pipeline_augmenter(
                                   self.get_params(deep=False)),
                               cache=caches.get(id(train.data)), faces=faces.get(id(train.data))),
                validation_data=None if val is None else self._sequence(
                    val, batch_size=_PREDICT_BATCH_SIZE, cache=caches.get(id(val.data)),
                    faces=faces.get(id(val.data))),
                epochs=self.epochs if epochs is None else epochs,
                initial_epoch=initial_epoch,
                # The sequence shuffles itself, seeded; Keras would also shuffle the batches
                # with Python's global random, which other threads may draw from.
                shuffle=False,
                callbacks=callbacks,
                verbose=min(int(self.verbose), 2),
            )
        except KeyboardInterrupt:
            logger.warning(
                "%s: fit interrupted after %d complete epoch(s); the network keeps the "
                "weights reached so far.", _NAME, self.n_iter_)
            raise

    def _history_recorder(self):
        """``on_epoch_end(epoch, logs)`` that extends ``history_`` and ``n_iter_``.

        The history of the epochs before this training run (a warm start, the
        first fine-tuning stage) is kept for the metrics this run logs, as
        Keras' ``History`` would give them.
        """
        previous = {k: list(v) for k, v in self.history_.items()}
        done: dict[str, list[float]] = {}

        def on_epoch_end(epoch, logs=None):
            for key, value in (logs or {}).items():
                done.setdefault(key, []).append(float(value))
            self.history_ = {k: previous.get(k, []) + values for k, values in done.items()}
            self.n_iter_ = len(self.history_.get("loss", []))

        return on_epoch_end

    def _seed(self):
        """An int seed from ``random_state`` (None stays None)."""
        if self.random_state is None:
            return None
        if isinstance(self.random_state, Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(2**31 - 1))

    # -------------------------------------------------------------- predict
    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"This {_NAME} instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator."
            )

    def predict_proba(self, X):
        """Probability of each class.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, 1), or ndarray of \
shape (n_samples, height, width, channels)
            Image file paths or pixel arrays, as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            Columns in the order of ``classes_``; rows sum to 1.
        """
        return self._predict_proba(X)

    def _predict_proba(self, X, boxes=None, *, stacklevel=4):
        """:meth:`predict_proba`, with the face ``boxes`` already known if given.

        ``boxes``: one ``(x, y, width, height)`` or ``None`` (the whole image)
        per image, used instead of detecting when ``face_detector`` is set.
        ``stacklevel`` of the warnings: 4 points at the caller of
        :meth:`predict_proba`.
        """
        self._check_fitted()
        data = check_images(X, _NAME)
        split = _training.Split(data, None, None, np.arange(len(data)))
        predict_on_batch, fixed_shape = _inference.network_predictor(
            self.model_, self.inference, len(data), _NAME, stacklevel=stacklevel)
        faces = input_faces(self.face_detector, self.face_margin, boxes)
        # XLA and LiteRT both prefer one batch shape: the last batch is padded.
        seq = self._sequence(split, batch_size=_PREDICT_BATCH_SIZE, on_error=self.on_error,
                             mirror=bool(self.flip_averaging), pad=fixed_shape, faces=faces)
        from ._sequence import predict_batches

        raw = predict_batches(predict_on_batch, seq, progress=_progress.batch_progress(
            len(seq), len(data), _PREDICT_BATCH_SIZE, self.verbose))
        out = seq.collect(np.asarray(raw, dtype=np.float64))
        if out.ndim == 1 or out.shape[1] == 1:
            p = out.reshape(-1)
            proba = np.column_stack([1.0 - p, p])
        else:
            proba = out
        if proba.shape != (len(data), 2):  # never return a shifted or shorter output
            raise RuntimeError(
                f"{_NAME}: the network returned {proba.shape} probabilities for "
                f"{len(data)} images; expected ({len(data)}, 2)."
            )
        if seq.failures:
            proba[sorted(seq.failures)] = np.nan
            warnings.warn(
                f"{_NAME}: {_training.describe_failures(seq.failures, len(data))}; their "
                "rows are NaN (on_error='skip').",
                SkmoodWarning,
                stacklevel=stacklevel - 1,
            )
        return proba

    def detect_faces(self, X):
        """The face each image is cropped to, with ``face_detector`` set.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, 1), or ndarray of \
shape (n_samples, height, width, channels)
            Image file paths or images, as in :meth:`predict`.

        Returns
        -------
        boxes : list of (x, y, width, height) tuples of int, or None
            The largest face of each image in its own pixel coordinates (before
            the margin is added), ``None`` where no face was found and the
            whole image is used.

        Raises
        ------
        ValueError
            If ``face_detector`` is None: the model uses whole images.
        """
        from ._sequence import image_at

        self._check_fitted()
        if self.face_detector is None:
            raise ValueError(f"{_NAME}: detect_faces needs face_detector; this model has "
                             "face_detector=None and classifies whole images.")
        data = check_images(X, _NAME)
        faces = FaceBoxes(face_cropper(self.face_detector, self.face_margin))
        color_mode = "rgb" if self.input_shape_[2] == 3 else "grayscale"
        for i in range(len(data)):
            faces.box(i, image_at(data, i, color_mode))
        return faces.boxes(len(data))

    def predict(self, X, min_confidence=None):
        """Predict the class label of each image.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, 1), or ndarray of \
shape (n_samples, height, width, channels)
            Image file paths or pixel arrays, as in :meth:`fit`.
        min_confidence : float in [0, 1] or None, default=None
            Abstain: an image whose most probable class has a probability
            below this gets the label ``"unsure"`` instead (its row is kept).
            ``None`` always answers a class.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``. With ``on_error="skip"``, unreadable files
            get ``None`` (and the array becomes of dtype object). With
            ``min_confidence`` the array is always of dtype object (integer
            class labels mixed with ``"unsure"``).

        Examples
        --------
        >>> from skmood import HappySadClassifier, make_faces
        >>> X, y = make_faces(40, image_size=(16, 16), random_state=0)
        >>> clf = HappySadClassifier(image_size=(16, 16), conv_filters=(4,), dense_units=4,
        ...                          epochs=1, random_state=0).fit(X, y)
        >>> clf.predict(X[:3], min_confidence=1.0)  # never that sure: every row abstains
        array(['unsure', 'unsure', 'unsure'], dtype=object)
        """
        from ._confidence import check_min_confidence, labels_from_proba

        min_confidence = check_min_confidence(min_confidence, f"{_NAME}.predict")
        return labels_from_proba(self.predict_proba(X), self.classes_, min_confidence)

    def explain(self, X, target=None, *, layer=None):
        """Grad-CAM heat maps: where in each image the network found its answer.

        Gradient-weighted class activation mapping (Selvaraju et al., 2017) on
        the network's last convolutional feature map (inside the backbone for
        ``backbone`` networks): each of its channels weighted by the mean
        gradient of the class's logit over it, summed, kept where positive,
        resized to the network's input size and scaled so that each map's
        maximum is 1. Computed in float32 whatever ``precision`` trained the
        network. :func:`skmood.overlay_heatmap` draws a map over its image.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, 1), or ndarray of \
shape (n_samples, height, width, channels)
            Image file paths or pixel arrays, as in :meth:`predict`. With
            ``face_detector`` set, each image is cropped to its largest face
            first, as :meth:`predict` does: the maps are of the crops
            (:func:`skmood.explain_faces` places them on the whole images).
        target : label, array-like of shape (n_samples,) or None, default=None
            The class to explain: one of ``classes_`` for every image, or one
            per image. ``None``: the class :meth:`predict` answers for each
            image.
        layer : str or None, default=None
            Name of the layer whose feature map is used, in ``model_`` or in a
            model nested in it (the backbone). ``None``: the last layer with a
            spatial output larger than 1x1, not counting pooling and dropout.

        Returns
        -------
        heatmaps : ndarray of shape (n_samples, height, width), dtype=float32
            One map per image at the network's input size (``input_shape_[:2]``),
            values in [0, 1]; 1 marks the pixels that raised the class's score
            most. A map of zeros: nothing in the image raised it. With
            ``on_error="skip"``, unreadable files get maps of NaN.

        Examples
        --------
        >>> from skmood import HappySadClassifier, make_faces
        >>> X, y = make_faces(40, image_size=(32, 32), random_state=0)
        >>> clf = HappySadClassifier(image_size=(32, 32), conv_filters=(8,), dense_units=16,
        ...                          epochs=1, random_state=0).fit(X, y)
        >>> heatmaps = clf.explain(X[:3])
        >>> heatmaps.shape, float(heatmaps.min()) >= 0.0, float(heatmaps.max()) <= 1.0
        ((3, 32, 32), True, True)
        >>> clf.explain(X[:3], target="sad").shape  # why "sad", whatever the answer
        (3, 32, 32)
        """
        from ._gradcam import explain_classifier

        return explain_classifier(self, X, target, layer=layer, owner=_NAME)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        tags.input_tags.string = True
        tags.classifier_tags.poor_score = True
        tags.classifier_tags.multi_class = False
        return tags

