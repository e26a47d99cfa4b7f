"""Fits stored with the shipped tables, so pricing a request needs no statsmodels at start-up.

A CostEntry's runtime model is a statsmodels WLS fit of its measurements (costmodel/estimator.py).
Fitting is quick, but importing statsmodels costs about a second, most of a one-row `estimate`.
This writes, per shipped table, every entry's fit (form, knots, parameters, their covariance,
scale, degrees of freedom: `RuntimeModel.to_stored`) keyed by the SHA-256 of everything the entry
is built from. A loaded entry whose key is stored predicts from it, with the same floats as a
fresh fit (tests/test_fits.py); any other entry is fitted afresh.

    python -m helm_efficiency.builders.fits                  # every shipped table (after rebuilding them)
    python -m helm_efficiency.builders.fits --table a100     # one
"""

import argparse
import gzip
import json
import os
from typing import Optional, Sequence

from helm_efficiency.stacks import SHIPPED_TABLES
from helm_efficiency.tables.cost_table import CostEntry, load_table
from helm_efficiency.util.atomic import write_bytes_atomic
from helm_efficiency.util.data_paths import fits_path


def stored_fits_bytes(name: str) -> bytes:
    """The fit store of shipped table `name`, as the gzip bytes it is saved as (no name or time in
    the header, keys sorted: a rebuild is byte-identical)."""
    table = load_table(name)
    store = {e.key: e.stored_fits() for e in table.entries if isinstance(e, CostEntry)}
    text = json.dumps(store, sort_keys=True, separators=(",", ":"))
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", action="append", choices=SHIPPED_TABLES, help="a shipped table (default: all)")
    args = parser.parse_args(argv)
    for name in args.table or SHIPPED_TABLES:
        data = stored_fits_bytes(name)
        write_bytes_atomic(fits_path(name), data)
        print(f"{name}: {len(data) / 1e3:.0f} kB -> {os.path.relpath(fits_path(name))}", flush=True)


if __name__ == "__main__":
    from helm_efficiency.util.reproducible import rerun_with_float_env

    rerun_with_float_env()  # the same bytes on x86-64 CPUs with AVX2 (util/reproducible.py)
    main()
