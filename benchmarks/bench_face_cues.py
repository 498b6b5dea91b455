"""Which face cues tell happy from sad on web photos? MTCNN's landmarks and features.

The shipped network sees a 48x48 grey crop and was trained from scratch; on
the web photos where a face is found it is right about four times in five.
MTCNN, which skmood already runs to find the face, is itself a network
trained on many more faces: its last stage (ONet, weights inside the
``mtcnn`` wheel, nothing downloaded) returns five landmarks (eyes, nose,
mouth corners) and computes a 256-number description of the face on the way.
This script measures how much each of these cues knows about the label,
with 5-fold cross-validated logistic regression on the web-happy-sad *train*
photos where MTCNN finds a face (``val/`` is never read):

- mouth width: the distance between the mouth corners over the distance
  between the eyes (one number: a smile widens the mouth);
- landmark geometry: 13 numbers of the five landmarks in the frame of the
  eyes (mouth width and height, nose, roll, the box's shape, confidence);
- ONet features: the 256 numbers of ONet's last hidden layer on the face's
  box resized to 48x48, in colour and in grey;
- with ``--base MODEL`` (a model never trained on web photos, e.g.
  ``python scripts/train_pretrained.py --fer-only --out fer_only.skmood``):
  that model's probability alone (its logit, as a feature) and with the cues;
- with ``--face-mesh FILE``: MediaPipe's 468-point face mesh
  (``face_landmark.tflite``, in the ``mediapipe`` 0.10.x wheels under
  ``mediapipe/modules/face_landmark/``; read with LiteRT, mediapipe itself is
  not needed) on the face's box grown 1.5 times, its x, y in the frame of the
  eyes (936 numbers), alone and with the ONet features;
- with ``--fine-tune``: ``HappySadClassifier(backbone="onet", weights="mtcnn")``
  fine-tuned on four fifths of these faces (the boxes in colour) and scored
  on the last fifth, for each of the same five folds as the linear rows,
  against the same network from random weights.

Every row is the mean (standard deviation) over the same five folds. Run::

    python benchmarks/bench_face_cues.py --face-mesh face_landmark.tflite --fine-tune --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import machine  # noqa: E402
from bench_finetune import WEB  # noqa: E402
from bench_synthetic import markdown_table, publish  # noqa: E402

GEOMETRY = ("mouth width", "mouth height", "nose height", "mouth below nose",
            "mouth beside nose", "nose beside eyes", "corners above mouth centre",
            "box width", "box height/width", "confidence", "roll",
            "left corner below nose", "right corner below nose")


def geometry(face: dict) -> list[float]:
    """13 numbers of one MTCNN face, in units of the distance between the eyes.

    The landmarks are rotated so that the eyes are level, with the origin
    between them: ``y`` grows downwards, as in the image.
    """
    k = {name: np.asarray(xy, float) for name, xy in face["keypoints"].items()}
    left, right = k["left_eye"], k["right_eye"]
    eyes = np.linalg.norm(right - left) + 1e-6
    roll = float(np.arctan2(right[1] - left[1], right[0] - left[0]))
    rotate = np.array([[np.cos(roll), np.sin(roll)], [-np.sin(roll), np.cos(roll)]])
    p = {name: rotate @ (xy - (left + right) / 2) / eyes for name, xy in k.items()}
    m_left, m_right, nose = p["mouth_left"], p["mouth_right"], p["nose"]
    mouth = (m_left + m_right) / 2
    _, _, w, h = face["box"]
    return [float(np.linalg.norm(m_right - m_left)), mouth[1], nose[1], mouth[1] - nose[1],
            mouth[0] - nose[0], nose[0], (m_left[1] + m_right[1]) / 2 - mouth[1], w / eyes,
            h / max(w, 1), face["confidence"], roll, m_left[1] - nose[1], m_right[1] - nose[1]]


def onet_features(crops: np.ndarray) -> np.ndarray:
    """ONet's 256-number last hidden layer on 48x48 RGB crops (0-255).

    The trunk of ``backbone="onet"`` with MTCNN's weights (it computes
    mtcnn's own ONet features: tests/test_onet_backbone.py).
    """
    from skmood._backbones import mtcnn_onet_file
    from skmood._transfer import load_onet_weights, onet_trunk

    trunk = onet_trunk()
    load_onet_weights(trunk, mtcnn_onet_file())
    return trunk.predict((crops - 127.5) / 128, batch_size=256, verbose=0)  # mtcnn's scaling


def linear(c: float):
    """Standardised logistic regression, the read-out of every cue."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))


def folds(y: np.ndarray) -> list:
    """The five stratified folds that every row is scored on."""
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(5, shuffle=True, random_state=0).split(y, y))


def cross_validated(features: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    """Accuracy of :func:`linear` on each of the five folds."""
    from sklearn.model_selection import cross_val_score

    return cross_val_score(linear(c), features, y, cv=folds(y))


def fine_tuned(colour: np.ndarray, y: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The onet backbone trained on 4/5 of the faces and scored on the last, per fold."""
    from skmood import HappySadClassifier

    labels = np.where(y, "sad", "happy")
    common = dict(backbone="onet", image_size=(48, 48), color_mode="rgb", epochs=12,
                  dropout=0.4, horizontal_flip=True, batch_size=64, random_state=0)
    rows = []
    for name, params in (
            ("onet backbone, MTCNN's weights, fine-tuned", dict(
                weights="mtcnn", head_epochs=1, fine_tune_layers="all", learning_rate=1e-3,
                fine_tune_learning_rate=3e-4)),
            ("onet backbone, random weights, trained", dict(weights=None, learning_rate=3e-4))):
        start, scores = time.perf_counter(), []
        for train, test in folds(y):
            clf = HappySadClassifier(**common, **params).fit(colour[train] / 255, labels[train])
            scores.append(np.mean(clf.predict(colour[test] / 255) == labels[test]))
            print(f"  {name}: fold {len(scores)} {scores[-1]:.3f}", flush=True)
        seconds = (time.perf_counter() - start) / len(scores)
        rows.append((f"{name} ({seconds:.0f} s a fold)", np.array(scores)))
    return rows


def mesh_crop(image: np.ndarray, box) -> np.ndarray:
    """The face mesh's input: the box grown to a square 1.5 times its larger side, 192x192."""
    from PIL import Image

    x, top, w, h = box
    cx, cy, side = x + w / 2, top + h / 2, max(w, h) * 1.5
    crop = Image.fromarray(image).crop(
        (int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2)))
    return np.asarray(crop.resize((192, 192), Image.BILINEAR))


def face_mesh(path: str, crops: list) -> np.ndarray:
    """MediaPipe's face mesh, x and y of its 468 points in the frame of the eyes.

    ``crops`` are :func:`mesh_crop`'s, given to the model as RGB in [0, 1];
    the points are rotated so that the eyes' outer corners (points 33 and
    263) are level, with the origin between them and their distance as the
    unit.
    """
    from ai_edge_litert.interpreter import Interpreter

    mesh = Interpreter(path)
    mesh.allocate_tensors()
    points = []
    for crop in crops:
        mesh.set_tensor(mesh.get_input_details()[0]["index"],
                        (crop[None] / 255).astype(np.float32))
        mesh.invoke()
        points.append(mesh.get_tensor(mesh.get_output_details()[0]["index"]).reshape(468, 3))
    xy = np.stack(points)[:, :, :2].astype(float)
    right, left = xy[:, 33], xy[:, 263]
    eyes = left - right
    angle = -np.arctan2(eyes[:, 1], eyes[:, 0])[:, None]
    scale = np.linalg.norm(eyes, axis=1)[:, None] + 1e-6
    centred = xy - ((left + right) / 2)[:, None]
    level_x = (centred[..., 0] * np.cos(angle) - centred[..., 1] * np.sin(angle)) / scale
    level_y = (centred[..., 0] * np.sin(angle) + centred[..., 1] * np.cos(angle)) / scale
    return np.c_[level_x, level_y]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default=None, help="a model never trained on web photos")
    parser.add_argument("--face-mesh", default=None, metavar="FILE",
                        help="MediaPipe's face_landmark.tflite: add the face mesh's rows")
    parser.add_argument("--fine-tune", action="store_true",
                        help="also fine-tune the onet backbone on each fold (about 10 minutes)")
    parser.add_argument("--write", default=None)
    args = parser.parse_args(argv)

    from PIL import Image

    import skmood
    import skmood._faces as faces
    from skmood import ImageLoader, load_image_folder

    X, y = load_image_folder(WEB / "train")
    detector = faces._mtcnn()
    start = time.perf_counter()
    finder = faces.FaceFinder(detector="mtcnn")  # the models' crop: square, margin 0.2
    keep, found, colour, model_crops, mesh_inputs = [], [], [], [], []
    for i, path in enumerate(X):
        image = ImageLoader(color_mode="rgb").transform([path])[0]
        detected = detector.detect_faces(image)
        if detected:  # the largest face, as skmood crops it
            face = max(detected, key=lambda f: f["box"][2] * f["box"][3])
            x, top, w, h = (max(int(v), 0) for v in face["box"])
            crop = Image.fromarray(image).crop((x, top, x + w, top + h)).resize(
                (48, 48), Image.BILINEAR)  # ONet's input: the box itself
            keep.append(i)
            found.append(face)
            colour.append(np.asarray(crop, np.float32))
            model_crops.append(finder.crop([image], [(x, top, w, h)])[0])
            if args.face_mesh:
                mesh_inputs.append(mesh_crop(image, (x, top, w, h)))
        if (i + 1) % 400 == 0:
            print(f"  {i + 1}/{len(X)} photos, {len(keep)} faces", flush=True)
    seconds = time.perf_counter() - start
    keep = np.asarray(keep)
    y_face = y[keep] == "sad"
    colour = np.stack(colour)
    grey = np.repeat(colour @ np.array([0.299, 0.587, 0.114], np.float32), 3).reshape(
        colour.shape)  # ITU-R 601, as Pillow's "L"
    geo = np.array([geometry(face) for face in found])
    cues = {
        "mouth width (1)": (geo[:, [0]], 1.0),
        f"landmark geometry ({len(GEOMETRY)})": (geo, 1.0),
        "ONet features, colour (256)": (onet_features(colour), 0.01),
        "ONet features, grey (256)": (onet_features(grey), 0.01),
    }
    rows = [(name, cross_validated(f, y_face, c)) for name, (f, c) in cues.items()]
    if args.base:
        model = skmood.load(args.base).set_params(face_detector=None)
        proba = model.predict_proba(model_crops)[:, list(model.classes_).index("sad")]
        logit = np.log(np.clip(proba, 1e-4, 1 - 1e-4) / np.clip(1 - proba, 1e-4, 1))[:, None]
        base = Path(args.base).name
        right = (proba >= 0.5) == y_face
        rows += [(f"{base} alone (its probability, threshold 0.5)",
                  np.array([right[test].mean() for _, test in folds(y_face)])),
                 (f"{base} + landmark geometry", cross_validated(np.c_[logit, geo], y_face, 1.0)),
                 (f"{base} + ONet features, grey",
                  cross_validated(np.c_[logit, cues["ONet features, grey (256)"][0]], y_face,
                                  0.01))]
    if args.face_mesh:
        mesh = face_mesh(args.face_mesh, mesh_inputs)
        rows += [("MediaPipe face mesh, x and y (936), linear", cross_validated(mesh, y_face, 0.1)),
                 ("face mesh + ONet features, colour",
                  cross_validated(np.c_[mesh, cues["ONet features, colour (256)"][0]], y_face,
                                  0.01))]
    if args.fine_tune:
        rows += fine_tuned(colour, y_face)
    cells = [(name, f"{scores.mean():.3f} ({scores.std():.3f})") for name, scores in rows]
    for name, cell in cells:
        print(f"{name:55s} {cell}", flush=True)
    header = (f"# bench_face_cues: web-happy-sad train, the {len(keep)} of {len(X)} photos "
              f"where MTCNN (colour) finds a face ({len(X) / seconds:.1f} photos/s); "
              f"the same 5 stratified folds for every row; {machine()}")
    table = markdown_table(["cue (numbers)", "accuracy on these faces, mean (sd) of 5 folds"],
                           cells)
    command = " ".join(["python benchmarks/bench_face_cues.py"]
                       + ([f"--base {Path(args.base).name}"] if args.base else [])
                       + ([f"--face-mesh {Path(args.face_mesh).name}"] if args.face_mesh else [])
                       + (["--fine-tune"] if args.fine_tune else [])
                       + ["--write docs/benchmarks.md"])
    publish([header, *table], "bench_face_cues", command, args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
