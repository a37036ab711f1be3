"""The LLM reasoning layer shared by ScaleToT, PAT and SCoTER.

Import is cheap: torch/transformers/httpx load only when a backend is built.

    llm = build_llm(cfg.llm)                       # cached backend
    texts = llm.generate(prompts, GenerationParams.from_cfg(cfg.llm))
    logp = llm.score(prompt, ["Drama", "Comedy"])  # closed-set log-probs
"""
from .cache import CachedLLM, LLMCache
from .counters import LLMCounters
from .errors import BackendUnavailable, LLMError, ParseError, PromptTooLong, ScoringUnsupported
from .factory import build_backend, build_llm, generation_params, structured_options
from .params import GenerationParams
from .parsing import parse_choice, parse_json, parse_numbered_steps
from .scoring import choose, entropy, normalize_logprobs
from .structured import StructuredResult, generate_structured
from .templates import PromptTemplate, load_template

__all__ = [
    "BackendUnavailable", "CachedLLM", "GenerationParams", "LLMCache", "LLMCounters", "LLMError",
    "ParseError", "PromptTemplate", "PromptTooLong", "ScoringUnsupported", "StructuredResult",
    "build_backend", "build_llm", "choose", "entropy", "generate_structured", "generation_params",
    "load_template", "normalize_logprobs", "parse_choice", "parse_json", "parse_numbered_steps",
    "structured_options",
]
