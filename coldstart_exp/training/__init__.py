"""Training: the LightningModule, the Trainer and its loggers (lightning.py), resume (resume.py), multirun callbacks."""
