"""Reads the tensors of a PyTorch checkpoint without PyTorch, and without running its code.

A `.pth` file is a pickle, and unpickling runs whatever functions the file names. This reader
accepts only what a state dict is made of (dicts, lists, tuples, numbers, strings, and tensors
rebuilt from typed storages) and refuses any other global, so a hostile file cannot run code.
Both of PyTorch's layouts are read: the legacy stream (a header pickle, the object pickle, then
the raw storages one after another; the format of checkpoints published before PyTorch 1.6) and
the zip archive that `torch.save` writes since.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

DTYPES = {"DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
          "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
          "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class UnsafeCheckpoint(ValueError):
    """The file is not a plain checkpoint of tensors (or is damaged)."""


@dataclass
class _Storage:
    dtype: type
    key: str
    numel: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    size: tuple
    stride: tuple

    def materialise(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise UnsafeCheckpoint(f"storage {self.storage.key} has no data")
        if not self.size:
            return np.array(data[self.offset])
        end = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1
        if self.offset < 0 or end > data.size:
            raise UnsafeCheckpoint(f"a tensor reaches outside storage {self.storage.key}")
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(data[self.offset:], shape=self.size,
                                               strides=[s * item for s in self.stride])
        return np.array(view)  # a copy, independent of the storage


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    if not isinstance(storage, _Storage):
        raise UnsafeCheckpoint("a tensor was rebuilt from something other than a storage")
    return _TensorRef(storage, int(offset), tuple(int(n) for n in size), tuple(int(s) for s in stride))


class _StorageType:
    def __init__(self, name: str):
        self.name = name


_ALLOWED = {("collections", "OrderedDict"): collections.OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
            ("torch._utils", "_rebuild_tensor"): _rebuild_tensor}


class _Unpickler(pickle.Unpickler):
    def __init__(self, fh, storages: dict):
        super().__init__(fh)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in DTYPES:
            return _StorageType(name)
        raise UnsafeCheckpoint(f"refuses to load {module}.{name}: only tensors and plain containers are read")

    def persistent_load(self, saved_id):
        if not isinstance(saved_id, tuple) or not saved_id or saved_id[0] not in ("storage", b"storage"):
            raise UnsafeCheckpoint(f"unexpected object reference {str(saved_id)[:60]}")
        kind, key, numel = saved_id[1], str(saved_id[2]), int(saved_id[4])
        if not isinstance(kind, _StorageType):
            raise UnsafeCheckpoint("a storage without a known element type")
        view = saved_id[5] if len(saved_id) > 5 else None
        if view is not None:
            raise UnsafeCheckpoint("storage views are not supported")
        if key not in self.storages:
            self.storages[key] = _Storage(DTYPES[kind.name], key, numel)
        return self.storages[key]


def _materialise(obj):
    if isinstance(obj, _TensorRef):
        return obj.materialise()
    if isinstance(obj, dict):
        return {k: _materialise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v) for v in obj)
    return obj


def _read_legacy(fh) -> object:
    storages: dict[str, _Storage] = {}
    if _Unpickler(fh, {}).load() != LEGACY_MAGIC:  # every pickle goes through the restricted reader
        raise UnsafeCheckpoint("not a PyTorch checkpoint (bad magic number)")
    if _Unpickler(fh, {}).load() != LEGACY_PROTOCOL:
        raise UnsafeCheckpoint("unknown PyTorch checkpoint protocol")
    _Unpickler(fh, {}).load()  # system information (byte order, type sizes): plain values
    result = _Unpickler(fh, storages).load()
    keys = _Unpickler(fh, {}).load()
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise UnsafeCheckpoint(f"data for an unknown storage {key}")
        (numel,) = struct.unpack("<q", fh.read(8))
        nbytes = numel * np.dtype(storage.dtype).itemsize
        raw = fh.read(nbytes)
        if len(raw) != nbytes:
            raise UnsafeCheckpoint("the file ends inside a tensor (truncated download?)")
        storage.data = np.frombuffer(raw, dtype=np.dtype(storage.dtype).newbyteorder("<"))
    return result


def _read_zip(path: Path) -> object:
    storages: dict[str, _Storage] = {}
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pickles:
            raise UnsafeCheckpoint("a zip file without data.pkl is not a PyTorch checkpoint")
        root = pickles[0][: -len("data.pkl")]
        result = _Unpickler(io.BytesIO(archive.read(pickles[0])), storages).load()
        for key, storage in storages.items():
            raw = archive.read(f"{root}data/{key}")
            storage.data = np.frombuffer(raw, dtype=np.dtype(storage.dtype).newbyteorder("<"))
    return result


def load_tensors(path: str | Path) -> dict[str, np.ndarray]:
    """The checkpoint at `path` as {name: numpy array}, read without PyTorch.

    A checkpoint that wraps its state dict (`{"state_dict": {...}}`, `{"model": {...}}`) is unwrapped.

    Raises:
        UnsafeCheckpoint: the file names anything but tensors and containers, or is damaged.
    """
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            result = _read_zip(path)
        else:
            with open(path, "rb") as fh:
                result = _read_legacy(fh)
    except UnsafeCheckpoint:
        raise
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, struct.error) as exc:
        raise UnsafeCheckpoint(f"not a readable PyTorch checkpoint: {exc}") from None
    result = _materialise(result)
    for key in ("state_dict", "model"):
        if isinstance(result, dict) and isinstance(result.get(key), dict):
            result = result[key]
    if not isinstance(result, dict):
        raise UnsafeCheckpoint(f"the checkpoint holds a {type(result).__name__}, not a dict of tensors")
    return {str(k): v for k, v in result.items() if isinstance(v, np.ndarray)}
