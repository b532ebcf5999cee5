"""An archive measured by one process, then by several under torchrun: wall time, rows per second, the same CSV.

    python tools/bench_sharded.py [MODELS] [--n 200] [--procs 2] [--threads 2] [--work DIR]

Writes N phantom DICOM files of 320x256 px once (as tools/bench_archive.py does), then runs the command line as a user
would: `crl-uls predict MODELS FOLDER --out one.csv --quiet` in one process with CRL_ULS_THREADS=THREADS, and
`torchrun --standalone --nproc_per_node PROCS crl-uls predict MODELS FOLDER --out many.csv --quiet` with each process's
share, CRL_ULS_THREADS=THREADS//PROCS (at least 1): the same cores either way. Each wall time includes starting
Python and importing torch (the processes under torchrun import side by side). Checks that the two CSVs are the same
bytes and prints a table and `RESULT {json}`. MODELS defaults to the tiny example models (`example_models('tiny')`).
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_archive import write_archive

def timed(cmd:list, env:dict) -> float:
    "Wall seconds of one command, which must succeed."
    t = time.perf_counter(); p = subprocess.run(cmd, env=env, capture_output=True, text=True); wall = time.perf_counter() - t
    if p.returncode: raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return wall

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('models', nargs='?', help='model folder (default: the tiny example models)')
    ap.add_argument('--n', type=int, default=200, help='DICOM files (default 200)')
    ap.add_argument('--procs', type=int, default=2, help='processes under torchrun (default 2)')
    ap.add_argument('--threads', type=int, default=2, help='threads of the one process; each of PROCS gets THREADS//PROCS (default 2)')
    ap.add_argument('--work', default='/tmp/crl_uls_bench_sharded', help='folder for the archive and the CSVs')
    a = ap.parse_args()
    if a.models is None:
        from crl_uls.train import example_models
        a.models = str(example_models('tiny'))
    work = Path(a.work); folder = work/f'archive_{a.n}'
    write_archive(folder, a.n)
    for f in sorted(folder.glob('*.dcm'))[a.n:]: f.unlink()           # exactly N
    bin_ = Path(sys.executable).parent
    base = [str(bin_/'crl-uls'), 'predict', a.models, str(folder), '--quiet']
    one = timed([*base, '--out', str(work/'one.csv')], {**os.environ, 'CRL_ULS_THREADS': str(a.threads)})
    share = max(1, a.threads // a.procs)
    many = timed([str(bin_/'torchrun'), '--standalone', '--nproc_per_node', str(a.procs), *base, '--out', str(work/'many.csv')],
                 {**os.environ, 'CRL_ULS_THREADS': str(share)})
    same = (work/'one.csv').read_bytes() == (work/'many.csv').read_bytes()
    res = {'files': a.n, 'cores': len(os.sched_getaffinity(0)), 'one_process': {'threads': a.threads, 'wall_s': round(one, 2),
           'files_per_s': round(a.n / one, 2)}, 'torchrun': {'processes': a.procs, 'threads_each': share, 'wall_s': round(many, 2),
           'files_per_s': round(a.n / many, 2)}, 'speedup': round(one / many, 3), 'same_csv': same, 'models': a.models}
    print(f"{'run':<24}{'wall s':>10}{'files/s':>10}")
    print(f"{'1 process x ' + str(a.threads) + ' threads':<24}{one:>10.1f}{a.n / one:>10.2f}")
    print(f"{str(a.procs) + ' processes x ' + str(share) + ' threads':<24}{many:>10.1f}{a.n / many:>10.2f}")
    print(f"speed-up {one / many:.2f}x; the same CSV: {same}")
    print('RESULT ' + json.dumps(res))
    if not same: sys.exit(1)

if __name__ == '__main__': main()
