"""Training: the LightningModule, trainer/strategy/logger construction, callbacks."""
