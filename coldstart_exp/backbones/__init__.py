"""Backbones: models that map a batch (user, history, profile) to item scores.

Every backbone is an `nn.Module` implementing the `Backbone` protocol in `base.py`; the config
group `backbone` picks one by `_target_`, and `build_backbone` gives it the data facts it needs.
"""

from .base import Backbone, build_backbone, write_facts

__all__ = ["Backbone", "build_backbone", "write_facts"]
