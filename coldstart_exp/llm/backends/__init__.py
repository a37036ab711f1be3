"""LLM backends: one interface (``LLMBackend``), several engines."""
from .base import LLMBackend, Prompt

__all__ = ["LLMBackend", "Prompt"]
