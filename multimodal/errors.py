"""The one error type users see: a `ValueError` whose message is one sentence naming the input."""


class InputError(ValueError):
    """Bad input: a file, config key, sample or argument that is not what was expected."""
