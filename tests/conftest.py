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

def train_tiny(out, seed=0):
    "Three tiny learners (TINY_SETTINGS, 64 phantoms of 64 px): enough to drive the tools, not to measure well."
    import warnings
    from crl_uls.phantom import write_phantoms
    from crl_uls.pipeline import train_models, TINY_SETTINGS
    data = Path(out)/'data'
    if not data.exists(): write_phantoms(data, 64, 64, seed=1, workers=1, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return train_models(data, Path(out)/'models', seed=seed, progress=False, settings=TINY_SETTINGS)

@pytest.fixture(scope='session')
def tiny_models(tmp_path_factory):
    "A model folder with three tiny learners and their manifest, trained once per test session."
    d = tmp_path_factory.mktemp('tiny')
    train_tiny(d)
    return d/'models'
