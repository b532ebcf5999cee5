"""Execute notebooks in place, keeping their outputs (for committed full-run outputs).

    CRL_ULS_PRESET=gpu python tools/run_notebooks.py nbs/13_study.ipynb [--parallel] [--into DIR]

Each notebook runs in its own process with nbs/ as the working directory (as under nbdev_test);
the notebook is written after every cell, so a run that stops keeps the outputs it reached.
With --into DIR the notebooks are copied to DIR/nbs/ and run there (the study then writes DIR/study/),
leaving the committed notebooks and study/ as they are.
"""
import argparse, os, subprocess, sys, time
from pathlib import Path

def run_one(path:Path) -> int:
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    path = path.resolve(); os.chdir(path.parent)
    nb = read_nb(path); sh = CaptureShell(path=path.parent)
    t = time.time()
    for i, c in enumerate(nb.cells):
        if c.cell_type != 'code': continue
        c.outputs = []
        sh.cell(c)
        write_nb(nb, path)
        print(f"{path.name}: cell {i} done at {time.time() - t:.0f} s", flush=True)
        if sh.exc: print(f"{path.name}: error in a cell:\n{c.source[:300]}\n{sh.exc!r}", flush=True); return 1
    print(f"{path.name}: ran in {time.time() - t:.0f} s", flush=True)
    return 0

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('notebooks', nargs='+', type=Path)
    ap.add_argument('--parallel', action='store_true', help='one process per notebook, all at once')
    ap.add_argument('--into', type=Path, help='run copies in DIR/nbs/ instead of the notebooks themselves')
    ap.add_argument('--one', action='store_true', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.into:
        import shutil
        (a.into/'nbs').mkdir(parents=True, exist_ok=True)
        a.notebooks = [Path(shutil.copy(nb, a.into/'nbs'/nb.name)) for nb in a.notebooks]
    if a.one: sys.exit(run_one(a.notebooks[0]))
    cmd = lambda nb: [sys.executable, __file__, '--one', str(nb)]
    if a.parallel:
        ps = [subprocess.Popen(cmd(nb)) for nb in a.notebooks]
        sys.exit(max(p.wait() for p in ps))
    sys.exit(max(subprocess.call(cmd(nb)) for nb in a.notebooks))
