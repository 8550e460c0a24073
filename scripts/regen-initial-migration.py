"""Regenerate the initial migration (0001) from the models.

Used only while the schema has never been released: once a database exists in the field,
schema changes get their own revision (``alembic revision --autogenerate``) instead.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from models.db import MIGRATIONS, alembic_config, make_engine

VERSIONS = MIGRATIONS / "versions"


def main() -> int:
    for old in VERSIONS.glob("0001_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'gen.db'}")
        command.revision(
            alembic_config(engine), message="initial schema", autogenerate=True, rev_id="0001"
        )
        engine.dispose()
    (new,) = VERSIONS.glob("0001_*.py")
    text = new.read_text()
    text = text.replace(
        "from alembic import op\n",
        "from alembic import op\nfrom sqlalchemy import Text\nfrom sqlalchemy.dialects import postgresql\n",
        1,
    )
    text = (
        "\n".join(
            line.rstrip() for line in text.splitlines() if not line.startswith("Create Date:")
        )
        + "\n"
    )
    new.write_text(text)
    ruff = Path(sys.executable).parent / "ruff"
    subprocess.run([str(ruff), "check", "-q", "--fix", str(new)], check=False)
    subprocess.run([str(ruff), "format", "-q", str(new)], check=False)
    print(f"wrote {new}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
