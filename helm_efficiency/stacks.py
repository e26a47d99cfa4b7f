"""Names of the shipped reference tables, and the default: one place, no heavy imports.

Every list of simulated stack names (the simulator's STACKS, the anchoring's stack per
(backend, GPU), the CLI's help, the served tables) derives from REFERENCE_STACKS here."""

from dataclasses import dataclass
from typing import Iterable, Tuple, Union


@dataclass(frozen=True)
class ReferenceStack:
    """One simulated reference stack: our hardware key, the simulator's system and backend."""

    name: str
    hardware: str
    system: str
    backend: str
    software: str


# Simulated modern stacks (<gpu>-<backend>, AIConfigurator; bf16), in the order tables are listed.
REFERENCE_STACKS = (
    ReferenceStack("h100-trtllm", "h100", "h100_sxm", "trtllm", "TensorRT-LLM"),
    ReferenceStack("h100-vllm", "h100", "h100_sxm", "vllm", "vLLM"),
    ReferenceStack("h200-trtllm", "h200", "h200_sxm", "trtllm", "TensorRT-LLM"),
    ReferenceStack("a100-trtllm", "a100", "a100_sxm", "trtllm", "TensorRT-LLM"),
    ReferenceStack("a100-vllm", "a100", "a100_sxm", "vllm", "vLLM"),
    ReferenceStack("b200-trtllm", "b200", "b200_sxm", "trtllm", "TensorRT-LLM"),
    ReferenceStack("b200-vllm", "b200", "b200_sxm", "vllm", "vLLM"),
    ReferenceStack("b200-sglang", "b200", "b200_sxm", "sglang", "SGLang"),
)
# The simulated stacks, the paper's Megatron-LM tables, the demo CPU.
SIMULATED_TABLES = tuple(s.name for s in REFERENCE_STACKS)
SHIPPED_TABLES = SIMULATED_TABLES + ("a100", "v100", "cpu")
HELM_TABLE = "helm"  # HELM's own bundled efficiency_data, read from the installed crfm-helm
DEFAULT_TABLE = "h100-trtllm"


def stack_list(names: Iterable[str] = SIMULATED_TABLES, last: str = "or") -> str:
    """'a, b, c or d': a list of names for help texts and messages."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" {last} {names[-1]}"


def split_table_names(values: Union[str, Iterable[str]]) -> Tuple[str, ...]:
    """Table names from one or more values, each possibly '+'-joined ('a100+my.json'): the one
    syntax shared by `efficiency=...`, the metric's `tables` arg and the CLI's --table."""
    values = [values] if isinstance(values, str) else list(values)
    return tuple(part for value in values for part in str(value).split("+") if part)


def check_table_names(names: Iterable[str], source: str) -> None:
    """Refuse a name that is neither a shipped table nor an existing JSON file, before any work."""
    import os

    from helm_efficiency.errors import EfficiencyInputError

    for name in names:
        if name not in SHIPPED_TABLES + (HELM_TABLE,) and not os.path.isfile(name):
            raise EfficiencyInputError(source, "table", f"{name!r} is neither a shipped table ({', '.join(SHIPPED_TABLES + (HELM_TABLE,))}) nor a JSON file")
