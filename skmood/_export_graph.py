"""The inference an exported model holds: from decoded pixels to probabilities (private).

:func:`serving_function` builds, in Keras operations, everything the
classifier does after decoding an image (:func:`skmood._batches.load_batch`,
``HappySadClassifier.predict_proba``):

1. **colour**: the input is RGB ``uint8``; a grayscale network gets ITU-R
   601 luma with Pillow's integer arithmetic, ``(19595 R + 38470 G + 7471 B +
   32768) >> 16``, the conversion ``ImageLoader(color_mode="grayscale")``
   decodes files with;
2. **resize** to the network's input size with Pillow's bilinear filter
   (:func:`skmood._image.resize_image`): a triangle filter widened by the
   reduction factor when shrinking (antialiasing), Pillow's fixed-point
   weights (22 fractional bits), rounded to whole grey levels after the
   horizontal and then the vertical pass. Images already at the input size
   pass through unchanged;
3. **normalise** to [0, 1] (``pixels / 255``);
4. the **network**, in inference mode (dropout and augmentation off);
5. **flip averaging** when the classifier uses it (the network's outputs on
   the image and on its mirror image, averaged);
6. **probabilities** of both classes, in the order of ``classes_``.

Each resize pass is a matrix product with weights computed from the image's
size inside the graph, so images of any size go in. Pillow 13 runs the
vertical pass first when the height shrinks much more than the width; the
graph always runs the horizontal pass first, as earlier Pillow versions do,
so such images can differ by one grey level in some pixels from Pillow 13's
(the lean runtime resizes with Pillow itself before the graph, see
:mod:`skmood.runtime`).

Only ``keras.ops`` is used (taken from :mod:`skmood._keras_backend`), so the
function traces into one TensorFlow graph that tf2onnx and the LiteRT
converter translate op by op.
"""

from __future__ import annotations

from collections.abc import Callable

from ._export_format import OUTPUT_NAME

__all__ = ["serving_function"]

#: Pillow's fixed-point precision of the resampling weights (``PRECISION_BITS``).
_WEIGHT_BITS = 22


def _weights(ops, n_in, n_out: int):
    """Pillow's bilinear resampling weights from ``n_in`` to ``n_out`` pixels, exactly.

    Returns int32 ``(n_out, n_in)``: the fixed-point weights (scaled by
    ``2**22``) Pillow computes in double precision. Pillow evaluates the
    triangle filter at ``d = (x + 0.5 - c) / s`` for the output pixel centred
    on ``c = (o + 0.5) * n_in / n_out``, with ``s`` the reduction factor (at
    least 1). Times ``2 * max(n_in, n_out)``, the filter ``1 - |d|`` is the
    integer ``w = 2 max(n_in, n_out) - |(2x + 1) n_out - (2o + 1) n_in|``, so
    each weight is ``round(2**22 * w / sum(w))``, found here by long division
    in int32, 7 bits at a time (exact while ``sum(w) < 2**24``: images up to
    about 16,000 pixels on a side).
    """
    n_in = ops.cast(n_in, "int32")
    source = ops.arange(0, n_in, dtype="int32") * 2 + 1
    target = ops.arange(n_out, dtype="int32") * 2 + 1
    offset = ops.expand_dims(source, 0) * n_out - ops.expand_dims(target, 1) * n_in
    weights = ops.maximum(0, 2 * ops.maximum(n_in, n_out) - ops.abs(offset))
    total = ops.sum(weights, axis=1, keepdims=True)
    quotient, remainder = ops.zeros_like(weights), weights
    for bits in (7, 7, 7, 2):  # floor(2**23 * w / total), 23 bits
        remainder = remainder * (1 << bits)
        digit = ops.floor_divide(remainder, total)
        quotient = quotient * (1 << bits) + digit
        remainder = remainder - digit * total
    return ops.floor_divide(quotient + 1, 2)  # round half up: floor(2**22 * w / total + 1/2)


def _pass(ops, x, weights):
    """One 8-bit pass of Pillow's resampling over the last axis of ``x``, exactly.

    ``x`` holds whole grey levels (float32) and ``weights`` (int32) sum to
    about ``2**22`` per output pixel; the result is ``(sum(x * w) + 2**21) >>
    22``, clipped to [0, 255], as Pillow computes it in integers. Products of
    up to 30 bits are not exact in float32, so each weight is split into
    three bytes, ``w = a 2**16 + b 2**8 + c``: every partial sum of ``x * a``,
    ``x * b`` and ``x * c`` is an integer below ``2**24`` (exact in float32,
    whatever the order of the additions, for windows of up to 257 source
    pixels: reductions up to 128 times), and the carries are added exactly.
    """
    high = ops.floor_divide(weights, 1 << 16)
    middle = ops.floor_divide(weights - high * (1 << 16), 1 << 8)
    low = weights - high * (1 << 16) - middle * (1 << 8)
    parts = ops.cast(ops.concatenate([high, middle, low], axis=0), "float32")
    sums = ops.matmul(x, ops.transpose(parts))  # (..., 3 * n_out)
    n_out = weights.shape[0]
    s_high, s_middle, s_low = (sums[..., :n_out], sums[..., n_out:2 * n_out],
                               sums[..., 2 * n_out:])
    carried = s_middle + ops.floor(s_low / 256.0)  # sum = carried * 2**8 + (< 2**8)
    top = s_high + ops.floor(carried / 256.0)  # sum = top * 2**16 + (< 2**16)
    return ops.clip(ops.floor((top + 32.0) / 64.0), 0.0, 255.0)  # (sum + 2**21) >> 22


def _resize(ops, x, height: int, width: int):
    """Pillow's bilinear resize of ``(n, h, w, c)`` grey levels to ``(n, height, width, c)``.

    The horizontal pass first, then the vertical one, each rounded to whole
    grey levels (Pillow's 8-bit passes).
    """
    shape = ops.shape(x)
    x = _pass(ops, ops.transpose(x, (0, 1, 3, 2)), _weights(ops, shape[2], width))
    x = _pass(ops, ops.transpose(x, (0, 2, 3, 1)), _weights(ops, shape[1], height))
    return ops.transpose(x, (0, 3, 2, 1))  # (n, c, width, height) -> (n, height, width, c)


def serving_function(network, keras, *, input_shape: tuple[int, int, int],
                     flip_averaging: bool) -> Callable:
    """``serve(pixels) -> {"probabilities": p}`` for a fitted network.

    Parameters
    ----------
    network : keras.Model
        Float32 network taking ``input_shape`` images in [0, 1]; one sigmoid
        output (probability of the second class) or two softmax outputs.
    keras : module
        The ``keras`` module (from :mod:`skmood._keras_backend`).
    input_shape : tuple of (int, int, int)
        ``(height, width, channels)`` of the network; 1 or 3 channels.
    flip_averaging : bool
        Average each image's output with its mirror image's.

    Returns
    -------
    serve : callable
        Takes ``uint8`` RGB pixels of shape ``(n, any height, any width, 3)``.
    """
    ops = keras.ops
    height, width, channels = (int(v) for v in input_shape)

    def serve(pixels):
        x = ops.cast(pixels, "float32")
        if channels == 1:  # Pillow's RGB -> L, exact in float32 (all sums < 2**24)
            luma = (x[..., 0:1] * 19595.0 + x[..., 1:2] * 38470.0 + x[..., 2:3] * 7471.0
                    + 32768.0)
            x = ops.floor(luma / 65536.0)
        x = _resize(ops, x, height, width) * (1.0 / 255.0)
        p = network(x, training=False)
        if flip_averaging:
            p = (p + network(ops.flip(x, axis=2), training=False)) / 2.0
        if p.shape[-1] == 1:
            p = ops.concatenate([1.0 - p, p], axis=-1)
        return {OUTPUT_NAME: p}

    return serve
