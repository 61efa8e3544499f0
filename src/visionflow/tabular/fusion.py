"""A model that reads table columns beside each image: the image network's features joined with a
small network over the columns, then the task's head.

    image -> feature network -> features ─┐
                                         concat -> Dense(FUSION_UNITS, relu) -> the task's head
    columns -> Dense(64) -> Dense(32) ───┘

The hidden layer after the join lets the head learn interactions (the class may depend on the
image *and* a column together, which a linear head on the joined features cannot express). The
second input is named "columns" (float32, the features of `Columns.transform`); the model's
metadata (`meta`) carries the fitted preprocessing and the training means the evaluation's
image-only and columns-only views put in place of the other input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from visionflow.tabular.columns import ColumnError, Columns

COLUMN_UNITS = (64, 32)
FUSION_UNITS = 128
INPUT = "columns"


def fuse(model, table: Columns, task, classes: list[str], dropout: float, regularizer=None):
    """`model` (a feature network with the task's head) rebuilt to read `table`'s columns too: the
    same image layers up to the head, the column network, the join, and a fresh head."""
    import keras

    from visionflow.models.heads import head_layers

    features = head_layers(model)[0].input
    columns = keras.Input(shape=(table.width,), dtype="float32", name=INPUT)
    c = columns
    for i, units in enumerate(COLUMN_UNITS, start=1):
        c = keras.layers.Dense(units, activation="relu", kernel_regularizer=regularizer, name=f"columns_dense_{i}")(c)
    joined = keras.layers.Concatenate(name="fusion_concat")([features, c])
    x = keras.layers.Dense(FUSION_UNITS, activation="relu", kernel_regularizer=regularizer, name="fusion")(joined)
    return keras.Model([model.inputs[0], columns], task.head(x, classes, dropout, regularizer), name=model.name)


def head_of(model, feature_shape):
    """The layers of a fused `model` after its image network, as a model of (image features,
    columns): what the head phase trains on cached features (the layers are `model`'s own)."""
    import keras

    from visionflow.models.heads import head_layers

    features = keras.Input(shape=tuple(feature_shape), name="features")
    columns = keras.Input(shape=(model.get_layer("columns_dense_1").input.shape[-1],), name=INPUT)
    c = columns
    for i in range(1, len(COLUMN_UNITS) + 1):
        c = model.get_layer(f"columns_dense_{i}")(c)
    x = model.get_layer("fusion")(model.get_layer("fusion_concat")([features, c]))
    for layer in head_layers(model):
        x = layer(x)
    return keras.Model([features, columns], x, name="head")


def reads_columns(model) -> bool:
    """Whether a Keras model takes table columns beside its images."""
    return any(t.name == INPUT for t in getattr(model, "inputs", None) or ())


def matrix(folder, records) -> np.ndarray | None:
    """The column features of `records` for the ImageFolder `folder`'s fitted table, or None when
    the run reads no columns."""
    table = getattr(folder, "table", None)
    if table is None:
        return None
    return table.transform([r.values or {} for r in records], where=[r.path for r in records])


def image_mean(records) -> list[float]:
    """The training images' mean colour (RGB, 0-255), from the scan's thumbnails."""
    thumbs = [np.frombuffer(r.thumb, np.uint8).reshape(-1, 3) for r in records if r.thumb]
    if not thumbs:
        return [127.5, 127.5, 127.5]
    return [round(float(v), 3) for v in np.concatenate(thumbs).mean(axis=0)]


def meta(table: Columns, train_records) -> dict:
    """What labels.json holds for a model that reads columns: the preprocessing, and the training
    means of both inputs (the evaluation's single-modality views)."""
    features = table.transform([r.values or {} for r in train_records], where=[r.path for r in train_records])
    return {"columns": table.to_dict(), "columns_mean": [round(float(v), 6) for v in features.mean(axis=0)],
            "image_mean": image_mean(train_records)}


@dataclass(frozen=True)
class Fusion:
    """What a loaded model that reads columns needs besides its weights: the preprocessing, and the
    training means of the columns' features and of the image (the single-modality views)."""

    table: Columns
    columns_mean: np.ndarray
    image_mean: tuple[float, float, float]

    @classmethod
    def from_meta(cls, meta: dict) -> Fusion | None:
        """The fusion of a labels.json, or None for a model of images alone."""
        if not meta.get("columns"):
            return None
        table = Columns.from_dict(meta["columns"])
        mean = np.asarray(meta.get("columns_mean") or np.zeros(table.width), np.float32)
        if mean.shape != (table.width,):
            raise ValueError(f"columns_mean has {mean.size} values for {table.width} column features")
        return cls(table, mean, tuple(float(v) for v in meta.get("image_mean") or (127.5,) * 3))

    def to_meta(self) -> dict:
        return {"columns": self.table.to_dict(), "columns_mean": [float(v) for v in self.columns_mean],
                "image_mean": list(self.image_mean)}

    @property
    def names(self) -> list[str]:
        return self.table.names

    def sample_features(self, count: int, seed: int = 0) -> np.ndarray:
        """(count, width) seeded column features that exercise every input of the column network (an
        export's parity check): numeric values drawn around the training mean, a tenth of them
        missing; categories drawn among all slots (other and missing included)."""
        rng = np.random.default_rng(seed)
        out = np.zeros((count, self.table.width), np.float32)
        at = 0
        for column in self.table.columns:
            if column.kind == "numeric":
                missing = rng.random(count) < 0.1
                out[:, at] = np.where(missing, 0.0, rng.normal(0.0, 1.0, count))
                out[:, at + 1] = missing
            else:
                out[np.arange(count), at + rng.integers(0, column.width, count)] = 1.0
            at += column.width
        return out

    def vector(self, row: dict | None, where: str) -> np.ndarray | str:
        """One image's column features, or the reason they cannot be had (one sentence)."""
        if row is None:
            return (f"no table columns for this image; the model reads {', '.join(self.names)} beside it (give them "
                    f"with --labels CSV, one row per image, or columns={{...}})")
        if not isinstance(row, dict):
            return f"columns must be a mapping of column name to value, not {type(row).__name__}"
        try:
            return self.table.transform([row], where=[where])[0]
        except ColumnError as exc:
            return str(exc)
