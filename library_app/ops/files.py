"""Files with children's data are readable by the app's own user only (trust.md).

The app sets these modes itself instead of relying on the service's umask: the SQLite database
(whose -wal and -shm files SQLite creates with the database file's own mode), backups, the
copies kept before a restore, and the folders backups go into.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it is missing; narrow it to 0600 if it exists."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        _narrow(path, FILE_MODE)
    else:
        os.close(fd)


def private_dir(path: Path) -> None:
    """Create the folder (and its parents) if missing; the folder itself gets mode 0700."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    _narrow(path, DIR_MODE)


def narrow_existing(path: Path) -> None:
    """0600 for a file that exists (a -wal or -shm left by an older version), else nothing."""
    if Path(path).exists():
        _narrow(Path(path), FILE_MODE)


def private_sqlite(database: Path) -> None:
    """The database file and its WAL companions, before SQLite opens them."""
    database = Path(database)
    database.parent.mkdir(parents=True, exist_ok=True)
    private_file(database)
    for suffix in ("-wal", "-shm", "-journal"):
        narrow_existing(database.with_name(database.name + suffix))


def _narrow(path: Path, mode: int) -> None:
    try:
        if os.name == "posix" and path.stat().st_mode & 0o777 != mode:
            os.chmod(path, mode)
    except PermissionError:  # someone else's file (e.g. a shared backup folder): leave it
        pass
