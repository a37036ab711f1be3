"""method=scoter: SCoTER (arXiv 2511.19514), our reimplementation — see METHODS.md §2.

The recipe is `run()` in pipeline.py. Offline: GVM mines a K-step reasoning pattern (gvm.py, mining.py);
a teacher LLM writes pattern-following chains for <= `llm.max_users` users, embedded step by step, and a
student serves everyone else (distill.py, which also holds the StepBank). Online: the step embeddings are
fused into the backbone (model.py for SASRec-like backbones, with the Lightning module and datamodule;
tiger.py for TIGER); no LLM at serving time. Controls (not the method): controls.py.

`method.stage=gvm` runs only the GVM pass (artifacts reused by later training runs).
"""

from .pipeline import run

__all__ = ["run"]
