"""Exit codes stay distinct as features add their own."""

from mediaenhancer_core.exit_codes import ExitCode


def test_no_two_exit_codes_share_a_number() -> None:
    # IntEnum silently turns a duplicate value into an alias of the first name
    values = [m.value for m in ExitCode.__members__.values()]
    dupes = sorted({v for v in values if values.count(v) > 1})
    assert not dupes, f"exit codes used twice: {dupes}"
