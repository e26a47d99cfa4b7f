"""Names of the shipped reference tables, and the default: one place, no heavy imports."""

# Simulated modern stacks (<gpu>-<backend>, AIConfigurator), the paper's Megatron-LM tables, the demo CPU.
SIMULATED_TABLES = ("h100-trtllm", "h100-vllm", "h200-trtllm", "a100-trtllm", "a100-vllm")
SHIPPED_TABLES = SIMULATED_TABLES + ("a100", "v100", "cpu")
HELM_TABLE = "helm"  # HELM's own bundled efficiency_data, read from the installed crfm-helm
DEFAULT_TABLE = "h100-trtllm"
