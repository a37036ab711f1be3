"""coldstart_exp: configuration-driven experiments for cold-start recommendation with LLM reasoning.

Data flows one way: raw files -> standard tables (`data`) -> splits (`data.splits`) -> batches
(`data.datamodule`) -> models (`backbones`, `methods`) -> metrics (`eval`) -> loggers/outputs
(`training`, `eval.report`).
"""

__version__ = "0.1.0"
