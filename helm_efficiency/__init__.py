"""helm-efficiency: raw, denoised and idealized runtime (plus idealized energy and cost) for HELM runs.

`helm-run --plugins helm_efficiency` imports this package; the plugin registration lives in
`helm_efficiency.helm.plugin` (also loaded automatically through the `helm` entry point).
"""

__version__ = "0.1.0"


def _register_with_helm() -> None:
    try:
        import helm.benchmark.run_expander  # noqa: F401
    except ImportError:  # HELM not installed: the table/cost-model tools still work.
        return
    import helm_efficiency.helm.plugin  # noqa: F401


_register_with_helm()
