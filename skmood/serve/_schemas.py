"""Response bodies of the API, as pydantic models (they make the OpenAPI document)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

__all__ = ["Box", "Error", "Explanation", "FacePrediction", "Health", "ImagePrediction",
           "ModelInfo", "PredictResponse"]


class Box(BaseModel):
    """A face box in the pixel coordinates of the uploaded image."""

    x: int = Field(description="Left edge, pixels from the image's left side.")
    y: int = Field(description="Top edge, pixels from the image's top.")
    width: int
    height: int


class FacePrediction(BaseModel):
    """The prediction for one face of an image (``?all_faces=true``)."""

    face_box: Box = Field(description="The face, in the pixel coordinates of the uploaded "
                                      "image.")
    label: str = Field(description="The most probable class for this face, or 'unsure' "
                                   "below ?min_confidence.")
    probabilities: dict[str, float] = Field(description="Probability of each class; they "
                                                        "sum to 1.")


class Explanation(BaseModel):
    """Where in the image the network found its answer (``?explain=true``): Grad-CAM."""

    label: str = Field(description="The class explained: the image's most probable class "
                                   "(also when `label` reads `unsure`).")
    heatmap: str = Field(description=(
        "A data URL (`data:image/png;base64,...`) of an 8-bit greyscale PNG at the "
        "network's input size: each pixel's value / 255 is the Grad-CAM heat in [0, 1] "
        "(1: the pixels that raised the label's score most). Stretch it over `box`."))
    box: Box = Field(description="The part of the uploaded image the heat map covers: the "
                                 "face crop (the face box with the model's margin, clipped to "
                                 "the image) or the whole image.")


class ImagePrediction(BaseModel):
    """The prediction for one uploaded image (its largest face, or the whole image)."""

    filename: str | None = Field(description="The upload's file name (null for raw bodies "
                                             "sent without ?filename=).")
    label: str = Field(description="The most probable class, or 'unsure' when its "
                                   "probability is below ?min_confidence.")
    probabilities: dict[str, float] = Field(description="Probability of each class; they "
                                                        "sum to 1.")
    face_box: Box | None = Field(description="The face the image was cropped to, or null "
                                             "when no face was found or cropping was off.")
    region: Literal["face", "whole image"] = Field(description="What was classified.")
    width: int = Field(description="Width of the uploaded image in pixels (after EXIF "
                                   "orientation).")
    height: int = Field(description="Height of the uploaded image in pixels.")
    time_ms: float = Field(description="Milliseconds spent on this image: decoding, face "
                                       "detection and its share of batched inference.")
    # Absent (never null) unless asked for: responses without all_faces are unchanged.
    faces: list[FacePrediction] | SkipJsonSchema[None] = Field(
        None, description="Only with all_faces=true: every face found, largest first (the "
                          "image-level fields describe the largest one, or the whole image "
                          "when crop_faces is false); empty when no face was found, and the "
                          "image-level fields then describe the whole image.")
    explanation: Explanation | SkipJsonSchema[None] = Field(
        None, description="Only with explain=true: the Grad-CAM heat map of the label (the "
                          "largest face, or the whole image, as the image-level fields).")


class PredictResponse(BaseModel):
    """Predictions for every uploaded image, in upload order."""

    predictions: list[ImagePrediction]
    crop_faces: bool = Field(description="Whether faces were looked for and cropped.")
    time_ms: float = Field(description="Milliseconds from the request's arrival to the "
                                       "response.")


class InputSize(BaseModel):
    height: int
    width: int
    channels: int


class Limits(BaseModel):
    max_upload_mb: float = Field(description="Largest request body accepted (413 above).")
    max_files: int = Field(description="Most images per request (413 above).")
    max_image_pixels: int = Field(description="Largest image (width x height) decoded.")


class ModelInfo(BaseModel):
    """The served model."""

    classes: list[str]
    input_size: InputSize
    color_mode: Literal["rgb", "grayscale"]
    pipeline: list[str] = Field(description="Class names of the model's steps.")
    parameters: dict[str, object] = Field(description="The classifier's parameters.")
    n_epochs_trained: int
    explainable: bool = Field(description="Whether `/predict?explain=true` gives heat maps "
                                          "(a Keras model; an exported one has no gradients).")
    skmood_version: str
    crop_faces: bool = Field(description="Whether /predict crops faces by default.")
    detector: Literal["haar", "mtcnn"]
    api_key_required: bool
    limits: Limits


class Health(BaseModel):
    status: Literal["ok"]
    uptime_s: float
    skmood_version: str
    images_classified: int = Field(description="Images classified since start-up.")
    inference_calls: int = Field(description="Batched calls of the network that classified "
                                             "them (fewer calls: bigger batches).")


class Error(BaseModel):
    """An error: ``detail`` says what was wrong and what is expected."""

    detail: str
