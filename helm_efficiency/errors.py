"""Error types. Every message names the file (or source) and the field at fault."""


class EfficiencyInputError(ValueError):
    """Bad user input: a malformed file, a missing field, an impossible value."""

    def __init__(self, source: str, field: str, problem: str):
        self.source = source
        self.field = field
        self.problem = problem
        super().__init__(f"{source}: field '{field}': {problem}")


class NotFittedError(RuntimeError):
    """An estimator's predict/report was called before fit."""


def check_fitted(estimator: object, attribute: str) -> None:
    """Raise NotFittedError unless `estimator` has the learned `attribute` that fit sets."""
    if not hasattr(estimator, attribute):
        name = type(estimator).__name__
        raise NotFittedError(f"this {name} is not fitted yet: call {name}.fit(...) before using it")
