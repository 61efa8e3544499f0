"""The baseline for `make bench-serve`: the hand-rolled app most tutorials show.

One request, one `model.predict` call, run in FastAPI's thread pool; Pillow decode and resize,
no batching, no limits. Usage: python bench/naive_app.py RUN_DIR PORT
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI, UploadFile  # noqa: E402
from PIL import Image  # noqa: E402

run = Path(sys.argv[1])
model = keras.saving.load_model(run / "model.keras", compile=False)
meta = json.loads((run / "labels.json").read_text())
h, w = meta["image_size"]
app = FastAPI()


@app.get("/readyz")
def ready():
    return {"status": "ready"}


@app.post("/v1/predict")
def predict(file: UploadFile):
    img = Image.open(io.BytesIO(file.file.read())).convert("RGB").resize((w, h))
    x = np.asarray(img, dtype="float32")[None]
    p = float(model.predict(x, verbose=0)[0, 0])
    classes = meta["classes"]
    return {"label": classes[int(p > 0.5)], "confidence": max(p, 1 - p)}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
