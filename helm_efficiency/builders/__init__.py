"""Builders of the shipped data: each module writes files that the readers (tables/, sources/,
analytic/) only read, at the paths util/data_paths.py names, and runs as `python -m
helm_efficiency.builders.<name>`; `rebuild.py` runs every step in order and checks the bytes.
Nothing on the read side imports this package (tests/test_import_graph.py)."""
