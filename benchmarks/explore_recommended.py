"""Exploration for issue #7 (not yet run to the end): a compact residual/separable net.

A candidate for the recommended configuration on FER2013 happy/sad: 48x48
grayscale, residual blocks with separable convolutions (596k parameters),
flip/rotate/zoom/translate augmentation, AdamW with cosine decay, label
smoothing 0.05, 10 % of *train* held out for validation; the val folder is
scored once at the end (plain and with horizontal-flip averaging). Run::

    python benchmarks/explore_recommended.py [EPOCHS]
"""
import time, sys, json, numpy as np, keras
from skmood import HappySadClassifier, load_image_folder
from sklearn.metrics import accuracy_score, balanced_accuracy_score

EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 24
STEPS = int(np.ceil(12045 * 0.9 / 64))

def block(x, c, sep):
    Conv = keras.layers.SeparableConv2D if sep else keras.layers.Conv2D
    sc = keras.layers.Conv2D(c, 1, strides=2, use_bias=False)(x)
    sc = keras.layers.BatchNormalization(momentum=0.9)(sc)
    y = Conv(c, 3, padding="same", use_bias=False)(x)
    y = keras.layers.BatchNormalization(momentum=0.9)(y)
    y = keras.layers.ReLU()(y)
    y = Conv(c, 3, padding="same", use_bias=False)(y)
    y = keras.layers.BatchNormalization(momentum=0.9)(y)
    y = keras.layers.MaxPooling2D(3, strides=2, padding="same")(y)
    return keras.layers.ReLU()(keras.layers.Add()([y, sc]))

def build(input_shape):
    inp = keras.Input(input_shape)
    x = keras.layers.RandomFlip("horizontal")(inp)
    x = keras.layers.RandomRotation(0.04, fill_mode="reflect")(x)
    x = keras.layers.RandomZoom((-0.1, 0.1), fill_mode="reflect")(x)
    x = keras.layers.RandomTranslation(0.08, 0.08, fill_mode="reflect")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization(momentum=0.9)(x); x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization(momentum=0.9)(x); x = keras.layers.ReLU()(x)
    x = block(x, 64, False)    # 24
    x = block(x, 128, True)    # 12
    x = block(x, 256, True)    # 6
    x = block(x, 384, True)    # 3
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.4)(x)
    out = keras.layers.Dense(1, activation="sigmoid")(x)
    m = keras.Model(inp, out)
    sched = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=EPOCHS * STEPS, alpha=0.02)
    m.compile(optimizer=keras.optimizers.AdamW(sched, weight_decay=1e-4),
              loss=keras.losses.BinaryCrossentropy(label_smoothing=0.05), metrics=["accuracy"])
    return m

if __name__ == "__main__":
    import logging; logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fer2013-happy-sad")
    p, l = load_image_folder(root + "/train")
    vp, vl = load_image_folder(root + "/val")
    print("params", build((48, 48, 1)).count_params(), flush=True)
    clf = HappySadClassifier(model=build, image_size=(48, 48), color_mode="grayscale",
                             epochs=EPOCHS, batch_size=64, validation_split=0.1, random_state=0)
    t = time.time(); clf.fit(p, l); fit_s = time.time() - t
    print("fit_s", fit_s, json.dumps(clf.history_), flush=True)
    t = time.time(); proba = clf.predict_proba(vp); pred_s = time.time() - t
    pred = clf.classes_[proba.argmax(1)]
    # flip averaging
    from skmood import ImageLoader
    Xv = np.stack(ImageLoader(color_mode="grayscale").transform(vp)).astype("float32") / 255
    p2 = clf.model_.predict(Xv[:, :, ::-1], verbose=0)[:, 0]
    pf = (proba[:, 1] + p2) / 2
    predf = np.where(pf > 0.5, clf.classes_[1], clf.classes_[0])
    print("VAL acc", accuracy_score(vl, pred), "bal", balanced_accuracy_score(vl, pred),
          "flipavg acc", accuracy_score(vl, predf), "pred img/s", len(vp) / pred_s, flush=True)
