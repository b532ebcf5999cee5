"""Robustness on the phantom: the learners on their own (wider) phantom, on the classic phantom and on the shifted phantom,
trained with and without the ultrasound augmentation; then fine-tuning on a few labelled shifted images against training
from scratch on the same images (the learning curve).

    python tools/robustness.py WORK [--preset demo] [--augs 0 0.5] [--n-test 100] [--curve 10 20 50] [--base-aug 0.5]

Every step runs the command line as a user would (`crl-uls train`, `crl-uls evaluate`); every figure is `crl-uls evaluate`'s.
Writes WORK/robustness.json (after each step) and prints a table. Figures name the machine they ran on.
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

EXE = str(Path(sys.executable).parent/'crl-uls')
KEEP = ('dice_mean', 'dice_median', 'median_abs_crl_err_mm', 'crl_bias_mm', 'crl_loa_half_mm', 'within_tolerance', 'with_crl',
        'images', 'accepted_share', 'accepted_crl_loa_half_mm', 'large_errors', 'large_errors_not_accepted')

def sh(*args) -> str:
    r = subprocess.run([EXE, *map(str, args)], capture_output=True, text=True)
    if r.returncode not in (0,): raise SystemExit(f"crl-uls {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r.stdout

def data(folder:Path, n:int, size, seed:int, **kw) -> Path:
    from crl_uls.phantom import write_phantoms
    if not (folder/'meta.csv').exists(): write_phantoms(folder, n, size, seed=seed, progress=False, **kw)
    return folder

def train(dataset, out:Path, preset:str, aug:float, init=None) -> dict:
    if not (out/'manifest.json').exists():
        sh('train', dataset, '--out', out, '--preset', preset, '--set', f'us_aug={aug}', '--quiet', *(['--init', init] if init else []))
    m = json.loads((out/'manifest.json').read_text())
    return {'train_seconds': m['train_seconds'], 'init': bool(m.get('init'))}

def evaluate(models:Path, dataset:Path, out:Path) -> dict:
    s = json.loads(sh('evaluate', models, dataset, '--out', out, '--json', '--quiet'))
    return {k: (round(s[k], 4) if isinstance(s[k], float) else s[k]) for k in KEEP if k in s}

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('work'); ap.add_argument('--preset', default='demo')
    ap.add_argument('--augs', type=float, nargs='*', default=[0.0, 0.5], help='us_aug settings to compare')
    ap.add_argument('--n-test', type=int, default=100); ap.add_argument('--curve', type=int, nargs='*', default=[10, 20, 50])
    ap.add_argument('--base-aug', type=float, default=0.5, help='which trained folder the fine-tuning starts from')
    a = ap.parse_args()
    os.environ.setdefault('CRL_ULS_THREADS', str(os.cpu_count() or 1))
    from crl_uls.train import training_settings
    from crl_uls.core import run_device
    W, D = Path(a.work), training_settings(a.preset)['data']
    R = {'preset': a.preset, 'machine': run_device(), 'steps': {}}
    save = lambda: (W/'robustness.json').write_text(json.dumps(R, indent=1))
    W.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    train_set = data(W/'train', D['n_train'], D['render'], 1)
    tests = {'wide': data(W/'test_wide', a.n_test, D['test_size'], 901),
             'classic': data(W/'test_classic', a.n_test, D['test_size'], 901, features=False),
             'shifted': data(W/'test_shifted', a.n_test, D['test_size'], 902, domain='shifted')}
    for aug in a.augs:
        m = W/f'models_{a.preset}_aug{aug:g}'
        step = {'train': train(train_set, m, a.preset, aug)}
        for k, d in tests.items(): step[k] = evaluate(m, d, W/f'eval_{m.name}_{k}')
        R['steps'][m.name] = step; save()
        print(m.name, json.dumps(step), flush=True)
    base = W/f'models_{a.preset}_aug{a.base_aug:g}'
    for n in a.curve:
        pool = data(W/f'shifted_{n}', n, D['render'], 903, domain='shifted')    # the same seed: each set holds the smaller ones
        for how, init in (('scratch', None), ('fine_tune', base)):
            m = W/f'curve_{how}_{n}'
            step = {'train': train(pool, m, a.preset, a.base_aug, init), 'shifted': evaluate(m, tests['shifted'], W/f'eval_{m.name}')}
            R['steps'][m.name] = step; save()
            print(m.name, json.dumps(step), flush=True)
    R['seconds'] = round(time.time() - t0); save()
    print(f"done in {R['seconds']} s; {W/'robustness.json'}")

if __name__ == '__main__': main()
