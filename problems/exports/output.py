"""Writing an export to a file named on the command line: whole or not at all.

Used by `python -m problems.exports -o FILE` and `flask export-grades --output FILE`. A path
that cannot be written is a SpecError naming the option (the commands print it as
`error: -o/--output: ...` and exit with status 2), never an OSError traceback.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from problems.errors import SpecError


def check_output(path: str | os.PathLike[str], option: str = "-o/--output") -> None:
    """Refuse, before any work, an output path that cannot be a file: a folder, or a file in
    a folder that does not exist. (Permissions show when writing.)"""
    target = Path(path)
    if target.is_dir():
        raise SpecError(option, f"{str(path)!r} is a folder; give a file name in it")
    folder = target.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise SpecError(option, f"the folder {str(folder)!r} {what}")


def write_output(path: str | os.PathLike[str], data: bytes, option: str = "-o/--output") -> None:
    """Write `data` to `path` in one step: into a temporary file in the same folder, renamed
    over `path` once complete, so a failure (a full disk, an interrupt) leaves any earlier
    file as it was and no half-written one. The file keeps the permissions it had (a grades
    file made private stays so), or gets those a plain open() would give a new one."""
    check_output(path, option)
    if os.path.exists(path) and not os.path.isfile(path):
        _write_in_place(path, data, option)  # /dev/stdout, a named pipe: no renaming those
        return
    # Through symbolic links: the file they point to is replaced, not the link.
    target = Path(os.path.realpath(path))
    mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask()
    try:
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as err:
        raise SpecError(option, f"cannot write in {str(target.parent)!r}: {err.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(temp, mode)  # mkstemp makes it 0600
        os.replace(temp, target)
    except BaseException as err:  # an interrupt too: no half-written file is left
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(err, OSError):
            raise SpecError(option, f"cannot write {str(path)!r}: {err.strerror}") from None
        raise


def _write_in_place(path: str | os.PathLike[str], data: bytes, option: str) -> None:
    try:
        with open(path, "wb") as out:
            out.write(data)
    except OSError as err:
        raise SpecError(option, f"cannot write {str(path)!r}: {err.strerror}") from None


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it back at once
    os.umask(mask)
    return mask
