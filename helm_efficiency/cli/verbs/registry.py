"""`helm-efficiency registry`: argument parsing and the call into the library."""

import sys
from argparse import Namespace

from helm_efficiency.cli.options import AddVerb


def run(args: Namespace) -> None:
    from helm_efficiency.analytic.identity import active_parameters
    from helm_efficiency.analytic.registry import load_registry, registry_name
    from helm_efficiency.helm_io.catalog import Catalog

    if args.missing:
        catalog = Catalog()
        missing = [m for m in catalog.open_text_models() if registry_name(m["name"], catalog) is None]
        for m in missing:
            size = f"{m['num_parameters'] / 1e9:.1f}B" if m.get("num_parameters") else "size unknown"
            active = active_parameters([m["name"]], catalog)
            size += f" ({active / 1e9:.1f}B active)" if active is not None else ""
            print(f"{m['name']}\t{size}\t{m.get('release_date') or ''}")
        print(f"{len(missing)} of {len(catalog.open_text_models())} open-weight text models in the installed HELM are not in the registry", file=sys.stderr)
        return
    for key, entry in sorted(load_registry().items()):
        print(f"{key}\t{entry['source']}\t{', '.join(entry.get('helm_names', []))}")


def register(add: AddVerb) -> None:
    p = add("registry", run, "List the architecture registry, or (--missing) HELM's open-weight text models it lacks.",
            "helm-efficiency registry --missing")
    p.add_argument("--missing", action="store_true", help="list the installed HELM's open-weight text models with no registry entry")
