"""Plumbing without domain knowledge: atomic writes, process pools, adding columns."""
