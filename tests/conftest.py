import os, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent

# One thread count for the whole test session, chosen once from the cores other processes leave free, shared among
# pytest-xdist's workers when `-n N` runs tests side by side (crl_uls.core.set_threads reads it in this process and in
# every crl-uls process the tests start).
from crl_uls.core import free_cores, set_threads
_CHOSEN = 'CRL_ULS_THREADS' in os.environ     # the person running the tests chose; the workers inherit it
os.environ.setdefault('CRL_ULS_THREADS', str(free_cores()))
set_threads()

def pytest_configure(config):
    "In the process that starts pytest-xdist's workers (`-n N`), before it starts them: each worker gets its share of the cores."
    n = getattr(config.option, 'numprocesses', None)
    if not _CHOSEN and isinstance(n, int) and n > 1 and not os.environ.get('PYTEST_XDIST_WORKER'):
        os.environ['CRL_ULS_THREADS'] = str(max(1, free_cores() // n))
# No test needs the network: ImageNet weights come only from the torch cache (a test that loads them writes its own file).
os.environ.setdefault('CRL_ULS_OFFLINE', '1')

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

def cli(*args):
    """Run `crl-uls ARGS` inside this process and return what `run` would: exit status, stdout and stderr.
    A fresh `crl-uls` process spends about 14 s on 2 cores importing torch, torchvision and fastai before it does any
    work; tests of what a sub-command does call it here, where they are imported once per test session. The console
    script itself (the entry point, a broken pipe, torchrun) is still started as a process in test_cli.py,
    test_predict.py and test_train.py. An exception escapes as itself, so a test that expects none fails on it."""
    import contextlib, io
    from crl_uls.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: code = main([str(a) for a in args])
        except SystemExit as e: code = e.code if isinstance(e.code, int) else 1      # argparse's usage errors exit 2
    return subprocess.CompletedProcess(['crl-uls', *map(str, args)], code, out.getvalue(), err.getvalue())

def train_tiny(out, seed=0, n=64, **kw):
    "Three tiny learners (the `tiny` preset, `n` phantoms of 64 px): enough to drive the tools, not to measure well."
    from crl_uls.phantom import write_phantoms
    from crl_uls.train import train_models
    data = Path(out)/'data'
    if not data.exists(): write_phantoms(data, n, 64, seed=1, workers=1, progress=False)
    return train_models(data, Path(out)/'models', 'tiny', seed=seed, progress=False, **kw)

@pytest.fixture(scope='session')
def tiny_models(tmp_path_factory):
    "A copy of the tiny example model folder (`crl_uls.train.example_models`: trained once per library version, then cached)."
    from crl_uls.train import example_models
    d = tmp_path_factory.mktemp('tiny')
    return Path(shutil.copytree(example_models('tiny'), d/'models'))

@pytest.fixture(scope='session')
def found(tiny_models):
    """A phantom (64 px, unseen in training) on which the tiny models find the fetus and report a CRL in mm.
    Tests of what the tools do with a measurement use it, so that none passes because a weak model found nothing;
    if the tiny models find no fetus in 16 phantoms the fixture fails, and with it every test that needs one.
    The tiny learners' own points are too weak for the default calipers (`auto`) to trust, so a CRL comes from the
    outline's extremes: tests that need one measure with `points='geometric'` (`--points geometric`)."""
    import math
    from crl_uls.phantom import make_phantom
    from crl_uls.pipeline import Pipeline
    pipe = Pipeline.load(tiny_models, points='geometric')
    for i in range(16):
        p = make_phantom(seed=7, index=i, size=64)
        m = pipe.predict(p.image, p.mm_per_px)
        if m.crown is not None and not math.isnan(m.crl_mm): return p
    pytest.fail('the tiny models found no fetus in 16 phantoms: the tiny training settings no longer train a usable U-Net')

def with_threshold(models, out, threshold:float) -> Path:
    "A copy of a model folder whose acceptance threshold is `threshold` (0: every result accepted; above 1: none), re-vouched."
    from crl_uls.pipeline import Acceptance, write_manifest
    out = Path(shutil.copytree(models, out))
    a = Acceptance.load(out); a.threshold = threshold; a.save(out)
    write_manifest(out, {'note': f'acceptance threshold set to {threshold} for a test'})
    return out

@pytest.fixture(scope='session')
def decided(tiny_models, tmp_path_factory):
    "Two model folders sure to produce each decision: 'always' accepts every result, 'never' none."
    d = tmp_path_factory.mktemp('decided')
    return {'always': with_threshold(tiny_models, d/'always', 0.0), 'never': with_threshold(tiny_models, d/'never', 1.01)}
