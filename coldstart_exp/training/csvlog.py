"""Lightning's CSVLogger, except that a resumed run appends to `csv/metrics.csv` instead of deleting it.

Lightning's writer removes an existing metrics file when it starts; with `append=true` (set from
`trainer.resume`) the existing rows stay and their header is carried on. Rows logged after the checkpoint
the run resumes from are trimmed by `training/resume.py` (`trim_csv`), so no epoch appears twice.
"""

from __future__ import annotations

import csv
import os

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class _AppendingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as fh:
                self.metrics_keys = next(csv.reader(fh), [])


class ResumableCSVLogger(CSVLogger):
    def __init__(self, *args, append: bool | str = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.append = bool(append)

    @property
    @rank_zero_experiment
    def experiment(self):
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = (_AppendingWriter if self.append else ExperimentWriter)(log_dir=self.log_dir)
        return self._experiment
