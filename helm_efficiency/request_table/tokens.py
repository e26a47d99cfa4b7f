"""Token counts without a network: HELM's tokenizer where it is on this machine, else a fallback.

Rescore counts tokens only where HELM left no count (a completion without `tokens`, a prompt
without a per-instance `num_prompt_tokens`). HELM's tokenizers come from the Hugging Face hub
or tiktoken's download; offline, asking for one retries for minutes. So a tokenizer is used
only when its files are already on this machine (checked without any network call), else the
fallback counts, and the requests it counted are flagged approximate.

The fallback is a GPT-2-style pre-tokenizer (words, digit groups of up to 3, punctuation runs,
spaces) with long words split every `CHARS_PER_WORD_PIECE` letters, times `SCALE`. SCALE and
its relative error (`FALLBACK_RELATIVE_ERROR`, the 90th percentile of |fallback / HELM − 1|) were
measured leave-one-suite-out on real suites' prompts against the counts HELM's own tokenizers
wrote: `python bench/fallback_tokens.py` (docs/tokens.md).
"""

import math
import os
import re
from functools import lru_cache
from typing import Callable, Optional

PIECES = re.compile(r"'(?:s|t|re|ve|m|ll|d)| ?[^\W\d_]+| ?\d{1,3}| ?[^\s\w]+|\s+")
CHARS_PER_WORD_PIECE = 6
# Measured by bench/fallback_tokens.py: scale fitted on all 64 prompts of 4 real suites (7 deployments);
# error = p90 of |fallback / HELM − 1| leave-one-suite-out (median 5.1%). See docs/tokens.md.
SCALE = 0.858
FALLBACK_RELATIVE_ERROR = 0.152

TokenCounter = Callable[[str], int]


def raw_piece_count(text: str) -> int:
    """Pre-tokenizer pieces, long letter runs counted once per CHARS_PER_WORD_PIECE letters."""
    total = 0
    for piece in PIECES.findall(text or ""):
        stripped = piece.strip()
        if stripped.isalpha():
            total += math.ceil(len(stripped) / CHARS_PER_WORD_PIECE)
        else:
            total += 1
    return total


def approximate_token_count(text: str) -> int:
    """Approximate token count of `text` (see module docstring for its measured error)."""
    n = raw_piece_count(text)
    return int(round(n * SCALE)) if n else 0


def fallback_counter() -> TokenCounter:
    """The approximate counter, marked so the requests it counts are flagged."""

    def count(text: str) -> int:
        return approximate_token_count(text)

    count.approximate = True  # type: ignore[attr-defined]
    return count


def is_approximate(counter: TokenCounter) -> bool:
    return bool(getattr(counter, "approximate", False))


def words(text: str) -> int:
    return len((text or "").split())


def merged_tokens(num_tokens: int, text: str) -> bool:
    """True when a completion's token list cannot be the real tokenization of its text: it has
    at least 4 words and fewer than half as many tokens as words (HELM 0.5's Together client
    stores a whole completion as one token). Real tokenizers give at least ~1 token per word."""
    n_words = words(text)
    return n_words >= 4 and num_tokens * 2 < n_words


# -- HELM's tokenizer, only when it is on this machine -------------------------------------------
def _hf_cached(repo: str) -> bool:
    """A Hugging Face tokenizer's files are in the local cache or a local folder (no network)."""
    if os.path.isdir(repo):
        return True
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    for file_name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json"):
        try:
            found = try_to_load_from_cache(repo, file_name)
        except Exception:  # invalid repo id and the like
            return False
        if isinstance(found, str):
            return True
    return False


@lru_cache(maxsize=1)
def _register_helm_configs() -> None:
    """HELM's built-in deployments and tokenizers, registered once per process (it parses YAML)."""
    from helm.benchmark.config_registry import register_builtin_configs_from_helm_package

    register_builtin_configs_from_helm_package()


@lru_cache(maxsize=None)
def offline_tokenizer_reason(deployment: str) -> Optional[str]:
    """None when HELM's tokenizer for `deployment` can load without a network; else why not.
    Reads HELM's registry only (no hub, no download)."""
    try:
        from helm.benchmark.tokenizer_config_registry import TOKENIZER_NAME_TO_CONFIG

        from helm_efficiency.helm_io.catalog import registered_deployment
    except ImportError as e:
        return f"HELM is not importable ({e})"
    _register_helm_configs()
    spec = registered_deployment(deployment)
    if spec is None or not spec.tokenizer_name:
        return f"HELM has no deployment {deployment!r} (so no tokenizer for it)"
    config = TOKENIZER_NAME_TO_CONFIG.get(spec.tokenizer_name)  # never HELM's generators: they ask the hub
    class_name = (config.tokenizer_spec.class_name if config and config.tokenizer_spec else "") or ""
    if class_name.endswith("SimpleTokenizer"):
        return None
    if class_name.endswith("HuggingFaceTokenizer"):
        args = config.tokenizer_spec.args or {}
        repo = args.get("pretrained_model_name_or_path") or spec.tokenizer_name
        return None if _hf_cached(str(repo)) else f"tokenizer {spec.tokenizer_name} ({repo}) is not in the local Hugging Face cache"
    return f"tokenizer {spec.tokenizer_name} ({class_name or 'unknown class'}) needs a download"


def helm_counter(deployment: str) -> TokenCounter:
    """Counter with HELM's tokenizer for `deployment`, built lazily; call only when
    `offline_tokenizer_reason(deployment)` is None. Runs with the hub set offline. If the
    tokenizer still fails to load, it counts with the fallback from then on and says so by
    setting its `approximate` attribute (callers read it after each call)."""
    state: dict = {}

    def count(text: str) -> int:
        if count.approximate:
            return approximate_token_count(text)
        try:
            return _count(text)
        except Exception:  # a tokenizer that cannot load after all: never stop the run
            count.approximate = True
            return approximate_token_count(text)

    def _count(text: str) -> int:
        if "tokenizer" not in state:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from helm.common.cache_backend_config import BlackHoleCacheBackendConfig
            from helm.tokenizers.auto_tokenizer import AutoTokenizer

            from helm_efficiency.helm_io.catalog import registered_deployment

            state["name"] = registered_deployment(deployment).tokenizer_name
            state["tokenizer"] = AutoTokenizer({}, BlackHoleCacheBackendConfig())
        from helm.common.tokenization_request import TokenizationRequest

        return len(state["tokenizer"].tokenize(TokenizationRequest(text=text, tokenizer=state["name"])).tokens)

    count.approximate = False  # type: ignore[attr-defined]
    return count


def offline_counter(deployment: str) -> TokenCounter:
    """HELM's tokenizer where it can load offline, else the flagged fallback (never waits on a
    network). Lazy: nothing is looked up until the first count is needed (most runs carry
    HELM's own counts and need none)."""
    state: dict = {}

    def count(text: str) -> int:
        if "counter" not in state:
            state["counter"] = helm_counter(deployment) if offline_tokenizer_reason(deployment) is None else fallback_counter()
        n = state["counter"](text)
        count.approximate = is_approximate(state["counter"])
        return n

    count.approximate = False  # type: ignore[attr-defined]
    return count
