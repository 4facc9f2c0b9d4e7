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


# Byte-order marks of encodings that are not UTF-8; a file that starts with one is named by its encoding.
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def utf8_text(data: bytes, path: object, first_line: int = 1) -> str:
    """`data` decoded as UTF-8 (a leading BOM dropped), or an InputError naming the line and column.

    `first_line` is the line number of `data`'s first line, for a file read one line at a time."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    if encoding and first_line == 1:
        raise InputError(f"{path}: the file is {encoding} text, not UTF-8 (re-save it as UTF-8)")
    line = data.count(b"\n", 0, start) + first_line
    column = start - (data.rfind(b"\n", 0, start) + 1) + 1
    raise InputError(
        f"{path}: line {line}, column {column}: not valid UTF-8 (byte 0x{data[start : start + 1].hex()}; "
        "re-save the file as UTF-8)"
    )
