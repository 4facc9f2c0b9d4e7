"""The one exception type that the CLI turns into a one-line error with a non-zero exit.

Raise `InputError` for anything a user can fix (a bad file, a missing column, an unknown key). The message
names the file, the row or the field, and the fix. Library code never prints; the CLI does.
"""


class InputError(ValueError):
    """A problem with user input; its message is shown as is, without a traceback."""


def row_error(path: object, row: int | None, field: str | None, problem: str, fix: str = "") -> InputError:
    """Build the standard message: `FILE: row N: field 'F': problem (fix)`."""
    parts = [str(path)]
    if row is not None:
        parts.append(f"row {row}")
    if field is not None:
        parts.append(f"field '{field}'")
    message = ": ".join(parts) + f": {problem}"
    if fix:
        message += f" ({fix})"
    return InputError(message)
