import shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture(scope='session')
def root(): return ROOT

def venv_tool(name):
    "Path of a console script installed beside the running Python (the project's virtual environment)."
    p = Path(sys.executable).parent/name
    if p.exists(): return str(p)
    found = shutil.which(name)
    if found is None: pytest.fail(f"{name} is not installed: run pip install -e '.[dev]' first")
    return found

def run(*cmd, cwd=ROOT, **kw):
    "Run a command, capturing text output."
    return subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, timeout=600, **kw)
