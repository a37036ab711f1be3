"""Tables.coverage / Tables.require: what the method-specific fields hold, and the error when one is absent."""

import pytest

from coldstart_exp.data.errors import DataError
from coldstart_exp.data.loading import load_tables
from tests.data.conftest import write_csv_set


def test_coverage_counts_and_require_names_method_and_field(tmp_path, data_cfg):
    d = write_csv_set(tmp_path)
    bare = load_tables(data_cfg("csv", f"data.source.dir={d}", "data.source.user_id_field=uid",
                                "data.source.item_id_field=sku", "data.source.time_field=ts"), None)
    assert bare.report["coverage"] == {"item_text": 0.0, "item_categories": 0.0, "user_profiles": 0.0, "reviews": 0}
    with pytest.raises(DataError, match=r"method scaletot needs user profiles, and data set 'csv' has none"):
        bare.require("scaletot", "user_profiles")
    full = load_tables(data_cfg("csv", f"data.source.dir={d}", "data.source.user_id_field=uid",
                                "data.source.item_id_field=sku", "data.source.time_field=ts",
                                "data.source.users=users.csv", "data.source.items=items.csv",
                                "data.source.title_field=name"), None)
    cov = full.coverage()
    assert cov["item_text"] == 1.0 and cov["item_categories"] == 0.0 and cov["user_profiles"] == 1.0
    full.require("scaletot", "user_profiles")  # present: no error
    with pytest.raises(DataError, match=r"method pat needs reviews"):
        full.require("pat", "reviews")
