"""Stratified, seeded train/validation split that keeps near-duplicate images on one side.

Photo collections often hold the same picture twice (re-saved, resized). A plain random split then
puts one copy in training and the other in validation, and validation accuracy is overstated.
Two images count as the same picture when their difference hashes are within `max_distance` bits
and their 8x8 colour thumbnails differ by at most THUMB_TOLERANCE grey levels on average (the
hash alone also pairs some unrelated photos); such images are grouped, and a group goes to one
side only.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from visionflow.data.scan import Record

# Exact-duplicate grouping is O(n); pairwise near-duplicate grouping is O(n^2) and used below this.
PAIRWISE_LIMIT = 30_000
MAX_DISTANCE = 4  # differing dHash bits
# Mean absolute difference of the 8x8 RGB thumbnails (0-255). On flowers5, resized copies and
# re-uploads measured 0.8-7.7, unrelated photos with close hashes 13-116.
THUMB_TOLERANCE = 10.0


def near_pairs(hashes: list[int], max_distance: int = 4) -> list[tuple[int, int]]:
    """Index pairs (i < j) whose hashes differ in at most `max_distance` bits, sorted.

    Equal hashes are always paired; other close pairs are searched pairwise only up to
    PAIRWISE_LIMIT hashes (beyond that, only equal hashes pair up).
    """
    n = len(hashes)
    pairs: set[tuple[int, int]] = set()
    same: dict[int, list[int]] = defaultdict(list)
    for i, h in enumerate(hashes):
        same[h].append(i)
    for members in same.values():
        pairs.update((a, b) for k, a in enumerate(members) for b in members[k + 1:])
    if 0 < n <= PAIRWISE_LIMIT and max_distance > 0:
        packed = np.array(hashes, dtype=">u8").view(np.uint8).reshape(n, 8)  # (n, 8) bytes per hash
        for start in range(0, n, 1024):
            block = packed[start:start + 1024]
            # (b, n) Hamming distances through xor + popcount on bytes.
            xor = np.bitwise_xor(block[:, None, :], packed[None, :, :])
            dist = np.unpackbits(xor, axis=2).sum(axis=2)
            rows, cols = np.nonzero(dist <= max_distance)
            pairs.update((int(i), int(j)) for i, j in zip(rows + start, cols) if i < j)
    return sorted(pairs)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def duplicate_groups(hashes: list[int], max_distance: int = 4) -> list[int]:
    """Returns a group id per hash; hashes within `max_distance` differing bits share a group."""
    return groups_from_pairs(len(hashes), near_pairs(hashes, max_distance))


def groups_from_pairs(n: int, pairs: list[tuple[int, int]]) -> list[int]:
    """Connected components of n items joined by `pairs`: a group id (its smallest member) per item."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return [find(i) for i in range(n)]


def thumb_difference(a: bytes, b: bytes) -> float:
    """Mean absolute difference of two thumbnails (0 = identical); inf when either is missing."""
    if not a or not b or len(a) != len(b):
        return float("inf")
    return float(np.abs(np.frombuffer(a, np.uint8).astype(np.int16) - np.frombuffer(b, np.uint8)).mean())


def similar_pairs(records: list[Record], max_distance: int = MAX_DISTANCE) -> list[tuple[int, int]]:
    """Index pairs of records that show the same picture: identical files, or close hashes
    confirmed by their thumbnails."""
    return [(i, j) for i, j in near_pairs([r.hash for r in records], max_distance)
            if (records[i].digest and records[i].digest == records[j].digest)
            or thumb_difference(records[i].thumb, records[j].thumb) <= THUMB_TOLERANCE]


def record_groups(records: list[Record]) -> list[int]:
    """A group id per record; records showing the same picture share one."""
    return groups_from_pairs(len(records), similar_pairs(records))


def stratified_group_split(records: list[Record], fraction: float, seed: int) -> tuple[list[Record], list[Record], int]:
    """Splits usable records into (train, validation, duplicate_images_grouped).

    Each class gets round(fraction * count) validation images (at least 1 and at most count - 1),
    taken as whole duplicate groups in a seeded random order.
    """
    groups = record_groups(records)
    by_group: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        by_group[g].append(i)
    grouped = sum(len(m) for m in by_group.values() if len(m) > 1)

    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = defaultdict(list)
    for g, members in sorted(by_group.items()):
        by_class[records[members[0]].label].append(g)
    val_idx: set[int] = set()
    for label in sorted(by_class):
        class_groups = by_class[label]
        order = rng.permutation(len(class_groups))
        total = sum(len(by_group[g]) for g in class_groups)
        want = min(max(1, round(fraction * total)), total - 1)
        taken = 0
        for k in order:
            members = by_group[class_groups[k]]
            if taken >= want:
                break
            if taken + len(members) > total - 1:
                continue  # keep at least one image of the class in training
            val_idx.update(members)
            taken += len(members)
    train = [r for i, r in enumerate(records) if i not in val_idx]
    val = [records[i] for i in sorted(val_idx)]
    for r in val:
        r.split = "validation"
    return train, val, grouped


def image_split(records: list, split_file: dict | None, fraction: float, seed: int) -> tuple[dict, dict]:
    """(splits, how they were made) of a folder of annotated images without splits of its own (boxes,
    masks, ...): the recorded split of a resumed run (`split_file`), else a seeded draw of
    `fraction` of the images with near-duplicates on one side; the held-out records say so."""

    if split_file is not None:
        held = set(split_file["validation"])
        val = [r for r in records if r.path in held]
        train = [r for r in records if r.path not in held]
        grouped = None
    else:
        for r in records:
            r.label = ""  # one stratum: the images, whatever they hold
        train, val, grouped = stratified_group_split(records, fraction, seed)
    for r in val:
        r.split = "validation"
    return {"train": train, "validation": val}, {"kind": "classes", "val_split": fraction, "seed": seed,
                                                 "strategy": "seeded random draw of images",
                                                 "duplicates_grouped": grouped}
