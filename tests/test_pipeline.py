"""The tf.data pipeline: shapes, label encoding, order, caching and its fixed-parallelism options."""

from __future__ import annotations

import numpy as np

from visionflow.data.dataset import load_folder
from visionflow.data.pipeline import make_dataset
from visionflow.tasks.classification import encode_labels


def test_label_encoding():
    np.testing.assert_array_equal(encode_labels([0, 1, 1], 2), [[0.0], [1.0], [1.0]])
    np.testing.assert_array_equal(encode_labels([2, 0], 3), [[0, 0, 1], [1, 0, 0]])


def test_batches_shapes_order_and_options(split_data, tmp_path):
    folder = load_folder(split_data, (24, 24))
    recs, labels = folder.splits["validation"], folder.labels("validation")
    ds = make_dataset(recs, encode_labels(labels, 2), (24, 24), batch_size=5, training=False, cache="disk",
                      cache_path=tmp_path / "cache" / "val")
    assert ds.options().autotune.enabled is False
    batches = list(ds)
    assert [b[0].shape[0] for b in batches] == [5, 5, 2]
    x = np.concatenate([b[0].numpy() for b in batches])
    assert x.dtype == np.float32 and x.shape == (12, 24, 24, 3) and 0 <= x.min() and x.max() <= 255
    # Validation keeps the scan order, so a second pass (from the cache) is identical.
    again = np.concatenate([b[0].numpy() for b in ds])
    np.testing.assert_array_equal(x, again)
    y = np.concatenate([b[1].numpy() for b in batches])[:, 0]
    np.testing.assert_array_equal(y, labels)
    assert list((tmp_path / "cache").iterdir())  # the disk cache was written


def test_training_batches_are_reshuffled_each_epoch(split_data):
    folder = load_folder(split_data, (24, 24))
    ds = make_dataset(folder.splits["train"], encode_labels(folder.labels("train"), 2), (24, 24), batch_size=32,
                      training=True, seed=1)
    first, second = (next(iter(ds))[1].numpy()[:, 0] for _ in range(2))
    assert sorted(first) == sorted(second) and not np.array_equal(first, second)


def test_task_pipelines_run_without_the_autotuner(tmp_path):
    """Detection's and segmentation's generator datasets end as the classification pipeline does."""
    from maskscenes import make_masks
    from scenes import make_scenes
    from visionflow.tasks.detection.data import load_boxes
    from visionflow.tasks.detection.pipeline import datasets as box_datasets
    from visionflow.tasks.segmentation.data import load_masks
    from visionflow.tasks.segmentation.pipeline import datasets as mask_datasets

    boxes = load_boxes(make_scenes(tmp_path / "boxes", {"train": 4, "validation": 2}, seed=1))
    shapes = load_masks(make_masks(tmp_path / "masks", {"train": 4, "validation": 2}, "index", seed=1))
    for train, val in (box_datasets(boxes, (64, 64), 0, 2), mask_datasets(shapes, (64, 64), 0, 2)):
        assert train.options().autotune.enabled is False and val.options().autotune.enabled is False
        assert next(iter(train))[0].shape == (2, 64, 64, 3)


def test_training_reuses_freed_buffers_after_tensorflow_pins_the_malloc_thresholds():
    """TensorFlow's generator datasets set glibc's trim threshold to 128 KB, which pins the mmap
    threshold there: each 1 MB buffer is then mapped and its pages faulted in anew.
    `steady_malloc` lets freed buffers be reused from the heap again. Measured in a fresh process
    (what ran before in this one has moved the thresholds)."""
    import json
    import subprocess
    import sys

    import pytest

    probe = """
import ctypes, json, resource
import numpy as np
from visionflow.training.setup import steady_malloc

def page_faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(100):
        buffer = np.ones(1 << 18, np.float32)  # 1 MB, every page written
        del buffer
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

try:
    libc = ctypes.CDLL("libc.so.6")
except OSError:
    print(json.dumps(None))
    raise SystemExit
libc.mallopt(-1, 128 * 1024)  # what TensorFlow's generator dataset sets
pinned = page_faults()
steady_malloc()
print(json.dumps([pinned, page_faults()]))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    if found is None:
        pytest.skip("not glibc")
    pinned, steady = found
    assert pinned > 100 * 200 and steady < pinned / 20, (pinned, steady)
