"""Error types. Every message names the file (or source) and the field at fault."""


class EfficiencyInputError(ValueError):
    """Bad user input: a malformed file, a missing field, an impossible value."""

    def __init__(self, source: str, field: str, problem: str):
        self.source = source
        self.field = field
        self.problem = problem
        super().__init__(f"{source}: field '{field}': {problem}")
