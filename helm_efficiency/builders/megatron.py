"""Regenerate the shipped A100 and V100 reference tables from the public Megatron-LM logs.

    python -m helm_efficiency.builders.megatron --profiles tests/data/reference_profiles

Data: github.com/stanford-crfm/helm-efficiency (logs/), fp16, batch size 1, Megatron-LM; all
nine profiles ship in this repository's tests/data/reference_profiles/ (run from its root).
"""

import argparse
import glob
import os

from helm_efficiency.sources.megatron import import_megatron_logs
from helm_efficiency.tables.calibrate import calibrate_table
from helm_efficiency.util.data_paths import DATA_DIR, table_path

CREDIT = "Megatron-LM profiles from github.com/stanford-crfm/helm-efficiency (logs/), NeurIPS 2023 paper authors"

# HELM model deployments and model names served by each profiled architecture.
MEGATRON_ALIASES = {
    "openai_davinci": ["openai/davinci"],
    "ai21_j1_large": ["ai21/j1-large"],
    "gptj_6b": ["eleutherai/gpt-j-6b", "huggingface/gptj_6b", "gooseai/gpt-j-6b", "together/gpt-j-6b", "huggingface/gpt-j-6b"],
    "gpt_neox_20b": ["eleutherai/gpt-neox-20b", "gooseai/gpt-neo-20b", "together/gpt-neox-20b"],
    "bloom": ["bigscience/bloom", "together/bloom"],
}


def build(profiles_dir: str, out_dir: str = DATA_DIR) -> None:
    aliases = {alias: model for model, names in MEGATRON_ALIASES.items() for alias in names}
    for hardware in ("a100", "v100"):
        logs = sorted(glob.glob(os.path.join(profiles_dir, hardware, "*.log")))
        measurements = import_megatron_logs(logs)
        table = calibrate_table(
            measurements,
            name=hardware,
            source=f"{CREDIT}: {hardware}/*.log",
            aliases=aliases,
            description=f"{hardware.upper()} fp16 batch-1 reference stack (Megatron-LM), fitted by helm-efficiency",
            command=["python", "-m", "helm_efficiency.builders.megatron", "--profiles", profiles_dir],
        )
        table.save(table_path(hardware, out_dir))
        print(f"wrote {hardware}.json: {len(table.entries)} entries")


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The docstring as written, and each option's default."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=_Formatter)
    parser.add_argument("--profiles", default=os.path.join("tests", "data", "reference_profiles"),
                        help="folder with a100/*.log and v100/*.log (Megatron-LM profiles)")
    parser.add_argument("--out-dir", default=DATA_DIR, help="where a100.json and v100.json are written (the shipped tables)")
    args = parser.parse_args()
    build(args.profiles, args.out_dir)


if __name__ == "__main__":
    from helm_efficiency.util.reproducible import rerun_with_float_env

    rerun_with_float_env()  # the same bytes on x86-64 CPUs with AVX2 (util/reproducible.py)
    main()
