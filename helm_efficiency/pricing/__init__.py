"""Pricing a requests table: idealized runtime, energy and cost (estimate), served cost and the per-request columns (efficiency), media."""
