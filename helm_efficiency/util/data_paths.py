"""Where every shipped data file lives: the one list that readers and builders take their paths from.

Readers (tables/, sources/, analytic/) open these files; builders (builders/, and the `--fit`,
`--simulate` and `--write` commands of sources/) write them. `SHIPPED_DATA` is what
`python -m helm_efficiency.builders.rebuild --check` compares byte for byte. Only `os` is
imported: argument parsing may import this module.
"""

import os

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # helm_efficiency/

# Cost tables (CostTable JSON, one per reference stack: a100.json, h100-trtllm.json, cpu.json, ...).
DATA_DIR = os.path.join(PACKAGE_DIR, "tables", "data")
# The stored fits of the shipped cost tables (<table>.json.gz), read instead of refitting.
FITS_DIR = os.path.join(DATA_DIR, "fits")
# The batch-1 correction fitted on published measurements (sources/anchor.py --fit).
ANCHOR_CORRECTION_PATH = os.path.join(DATA_DIR, "anchor_correction.json")
# Served tables (<stack>.zip) and their correction (sources/served_correction.py --fit).
SERVED_DIR = os.path.join(DATA_DIR, "served")
# A zip of JSON members: the table without its entries, and one member per model, so a reader
# decompresses only the models it prices (byte-identical rebuilds: fixed member times and order).
SERVED_TABLE_SUFFIX = ".zip"  # members: tables/served.HEADER_MEMBER and entry_member(model)
SERVED_CORRECTION_PATH = os.path.join(SERVED_DIR, "served_correction.json")
# How far a served transfer (a model the simulator refuses, priced from its neighbours) lands, per stack.
SERVED_TRANSFER_PATH = os.path.join(SERVED_DIR, "served_transfer.json")

# Published measurements: batch-1 rows (measured/) and served rows (measured_served/), with the
# simulator's answer for each row cached beside them (the `--simulate` steps).
MEASURED_DIR = os.path.join(PACKAGE_DIR, "sources", "measured")
MEASURED_SERVED_DIR = os.path.join(PACKAGE_DIR, "sources", "measured_served")
ANCHOR_CACHE = os.path.join(MEASURED_DIR, "simulated", "anchors_simulated.csv")
SERVED_CACHE = os.path.join(MEASURED_SERVED_DIR, "simulated", "served_simulated.csv")

# GPU specifications (with the batch-1 powers sources/power.py writes) and the architecture registry.
HARDWARE_JSON = os.path.join(PACKAGE_DIR, "analytic", "hardware.json")
REGISTRY_JSON = os.path.join(PACKAGE_DIR, "analytic", "registry.json")
ACTIVE_PARAMETERS_JSON = os.path.join(PACKAGE_DIR, "analytic", "active_parameters.json")  # MoE models the registry lacks
# The demo's random-weight models (their configs), profiled by builders/cpu.py.
DEMO_MODELS_JSON = os.path.join(PACKAGE_DIR, "profiling", "demo_models.json")

# Every file or folder a rebuild step writes, the files `rebuild --check` compares.
SHIPPED_DATA = (DATA_DIR, os.path.dirname(ANCHOR_CACHE), os.path.dirname(SERVED_CACHE), HARDWARE_JSON)


def in_package(path: str) -> str:
    """`path` as the package names it in messages (`helm_efficiency/analytic/registry.json`)."""
    return "/".join(["helm_efficiency", *os.path.relpath(path, PACKAGE_DIR).split(os.sep)])


def table_path(name: str, data_dir: str = DATA_DIR) -> str:
    """The file of shipped cost table `name` (`a100`, `h100-trtllm`, ...)."""
    return os.path.join(data_dir, f"{name}.json")


def fits_path(name: str) -> str:
    """The stored fits of shipped cost table `name`."""
    return os.path.join(FITS_DIR, f"{name}.json.gz")


def served_table_path(stack: str, out_dir: str = SERVED_DIR) -> str:
    """The served table of `stack` in `out_dir` (by default the shipped one)."""
    return os.path.join(out_dir, f"{stack}{SERVED_TABLE_SUFFIX}")
