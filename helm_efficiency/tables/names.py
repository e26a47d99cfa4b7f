"""Names of the shipped reference tables, and the default: one place, no heavy imports."""

# Simulated modern stacks (<gpu>-<backend>, AIConfigurator), the paper's Megatron-LM tables, the demo CPU.
SIMULATED_TABLES = ("h100-trtllm", "h100-vllm", "h200-trtllm", "a100-trtllm", "a100-vllm")
SHIPPED_TABLES = SIMULATED_TABLES + ("a100", "v100", "cpu")
HELM_TABLE = "helm"  # HELM's own bundled efficiency_data, read from the installed crfm-helm
DEFAULT_TABLE = "h100-trtllm"


def split_table_names(values) -> tuple:
    """Table names from one or more values, each possibly '+'-joined ('a100+my.json'): the one
    syntax shared by `efficiency=...`, the metric's `tables` arg and the CLI's --table."""
    values = [values] if isinstance(values, str) else list(values)
    return tuple(part for value in values for part in str(value).split("+") if part)


def check_table_names(names, source: str) -> None:
    """Refuse a name that is neither a shipped table nor an existing JSON file, before any work."""
    import os

    from helm_efficiency.errors import EfficiencyInputError

    for name in names:
        if name not in SHIPPED_TABLES + (HELM_TABLE,) and not os.path.isfile(name):
            raise EfficiencyInputError(source, "table", f"{name!r} is neither a shipped table ({', '.join(SHIPPED_TABLES + (HELM_TABLE,))}) nor a JSON file")
