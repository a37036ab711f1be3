"""Compose a `data` config as the CLI would, with overrides, for sources reading files a test wrote."""

from __future__ import annotations

import pytest

from tests.conftest import compose


@pytest.fixture
def data_cfg(tmp_path):
    def make(data: str, *overrides: str):
        return compose([f"data={data}", *overrides], tmp_path).data

    return make
