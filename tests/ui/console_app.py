"""The console as ``AppTest`` runs it: ``ui/app.py`` executed from a folder without a
``pages/`` directory (next to ``ui/app.py``, ``ui/pages/`` would switch AppTest into
Streamlit's old pages-folder mode on every rerun)."""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[2] / "ui" / "app.py"), run_name="__main__")
