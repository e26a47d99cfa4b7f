"""helm-efficiency: raw, denoised and idealized runtime (plus idealized energy and cost) for HELM runs.

Importing the package (or its core: tables, cost model, estimate, denoise, transfer) loads
neither HELM's code nor torch and registers nothing. HELM registration lives in
`helm_efficiency.helm.plugin`, loaded through the `helm` entry point by `helm-run`, or with
`--plugins helm_efficiency.helm.plugin`.
"""

__version__ = "0.1.0"
