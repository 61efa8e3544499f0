"""Table columns beside images: kinds detected, preprocessing learnt once and applied the same,
missing values, unseen categories, and the refusals that name the column or row."""

from __future__ import annotations

import json

import numpy as np
import pytest

from visionflow.tabular.columns import ColumnError, Columns, choose, fit

ROWS = [{"image": "a.jpg", "label": "x", "age": "63", "site": "back", "id": "1"},
        {"image": "b.jpg", "label": "y", "age": "", "site": "arm", "id": "1"},
        {"image": "c.jpg", "label": "x", "age": "41", "site": "back", "id": "1"},
        {"image": "d.jpg", "label": "y", "age": "52", "site": "", "id": "1"}]


def test_kinds_are_detected_and_the_preprocessing_round_trips():
    cols = fit(ROWS, ["age", "site"])
    age, site = cols.columns
    assert age.kind == "numeric" and age.mean == pytest.approx(52.0) and age.missing_in_training == 1
    assert site.kind == "categorical" and site.categories == ["back", "arm"] and site.missing_in_training == 1
    x = cols.transform(ROWS)
    assert x.shape == (4, 2 + 4) and cols.features() == ["age", "age missing", "site=back", "site=arm",
                                                          "site=other", "site=missing"]
    assert x[0, 0] == pytest.approx((63 - 52) / age.std) and x[0, 1] == 0
    assert x[1, :2].tolist() == [0.0, 1.0]  # missing: the mean (0 after scaling) and the indicator
    assert x[3, 2:].tolist() == [0, 0, 0, 1]  # a missing category has its own slot
    again = Columns.from_dict(json.loads(json.dumps(cols.to_dict())))
    assert np.array_equal(again.transform(ROWS), x)


def test_unseen_categories_are_other_and_bad_values_name_their_row_and_column():
    cols = fit(ROWS, ["age", "site"])
    x = cols.transform([{"age": 70, "site": "scalp"}])
    assert x[0, 2:].tolist() == [0, 0, 1, 0]
    with pytest.raises(ColumnError, match=r"photo7\.jpg, column 'age': 'old' is not a number"):
        cols.transform([{"age": "old", "site": "arm"}], where=["photo7.jpg"])
    with pytest.raises(ColumnError, match="row 1 has no column 'site'"):
        cols.transform([{"age": 3}])


def test_columns_missing_from_the_table_or_holding_one_value_are_refused():
    header = list(ROWS[0])
    assert choose(header, "auto", ("image", "label")) == ["age", "site", "id"]
    assert choose(header, "site, age", ("image", "label")) == ["site", "age"]
    with pytest.raises(ColumnError, match="--columns weight: the table has no such column"):
        choose(header, "age,weight", ("image", "label"))
    with pytest.raises(ColumnError, match="target"):
        choose(header, "label", ("image", "label"))
    with pytest.raises(ColumnError, match="Column 'id' holds a single value"):
        fit(ROWS, ["age", "id"])
