"""`BadSamples`: the stop-or-skip policy for unreadable samples, with a count for the report."""

from multimodal.errors import InputError

POLICIES = ("raise", "skip")


class BadSamples:
    """With policy "raise" the first bad sample stops the run with its `InputError`; with
    "skip" it is left out, counted, and listed in `report()`. Nothing is dropped silently."""

    def __init__(self, policy: str = "raise"):
        if policy not in POLICIES:
            raise InputError(f"bad-sample policy {policy!r} is unknown; expected one of {POLICIES}")
        self.policy = policy
        self.skipped: list[str] = []

    def handle(self, error: InputError) -> None:
        if self.policy == "raise":
            raise error
        self.skipped.append(str(error))

    def report(self) -> str:
        if not self.skipped:
            return "no bad samples"
        lines = [f"skipped {len(self.skipped)} bad sample(s):"]
        return "\n".join(lines + [f"  {reason}" for reason in self.skipped])
