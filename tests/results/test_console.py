"""Console: Lightning's adverts filtered; a failure is one console line, its traceback only in the log file."""

from __future__ import annotations

import io
import logging

from coldstart_exp.__main__ import log_failure, quiet_console


def test_advert_dropped_other_info_kept(caplog):
    quiet_console()
    lg = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    with caplog.at_level(logging.INFO):
        lg.info("💡 Tip: For seamless cloud uploads and versioning, try installing litmodels")
        lg.info("GPU available: False, used: False")
    assert [r.getMessage() for r in caplog.records if r.name == lg.name] == ["GPU available: False, used: False"]


def test_failure_is_one_console_line_and_a_traceback_in_the_file(tmp_path):
    root = logging.getLogger()
    console_buf = io.StringIO()
    console, file = logging.StreamHandler(console_buf), logging.FileHandler(tmp_path / "job.log")
    root.addHandler(console)
    root.addHandler(file)
    try:
        try:
            raise ValueError("data.csv line 3: field 'rating' is not a number")
        except ValueError as e:
            log_failure(logging.getLogger("coldstart_exp.test"), e)
    finally:
        root.removeHandler(console)
        root.removeHandler(file)
        file.close()
    assert console_buf.getvalue().strip() == "run failed: ValueError: data.csv line 3: field 'rating' is not a number"
    text = (tmp_path / "job.log").read_text()
    assert "Traceback (most recent call last)" in text and text.count("line 3: field") == 3  # the one line; the traceback's raise statement and its last line


def test_lightning_lines_reach_the_console_once():
    root = logging.getLogger()
    h = logging.StreamHandler(io.StringIO())
    root.addHandler(h)  # as Hydra's console handler
    try:
        import lightning  # noqa: F401  (its import puts a console handler of its own on the "lightning" logger)

        quiet_console()
        assert not [x for x in logging.getLogger("lightning").handlers if type(x) is logging.StreamHandler]
    finally:
        root.removeHandler(h)
