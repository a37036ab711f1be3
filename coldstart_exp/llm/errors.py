"""Exceptions with messages that say what to do next."""


class LLMError(RuntimeError):
    """Base class for LLM-layer failures."""


class BackendUnavailable(LLMError):
    """Server down / unreachable / kept failing after retries."""


class PromptTooLong(LLMError):
    """Prompt exceeds the context and ``llm.truncation`` is ``error``."""


class ScoringUnsupported(LLMError):
    """The backend cannot return log-probabilities for arbitrary continuations."""


class ParseError(ValueError):
    """A model answer did not match the expected structure."""
