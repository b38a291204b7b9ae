"""Autogenerate a migration against a scratch SQLite database upgraded to head.

    python -m library_app.migrations.make "add something"
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from library_app.db import alembic_config, upgrade


def main() -> None:
    message = " ".join(sys.argv[1:]) or "change"
    with tempfile.TemporaryDirectory() as tmp:
        url = "sqlite:///" + str(Path(tmp) / "scratch.sqlite3")
        upgrade(url)
        command.revision(alembic_config(url), message=message, autogenerate=True)


if __name__ == "__main__":
    main()
