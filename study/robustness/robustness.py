"""Robustness on the phantom: the learners on their own (wider) phantom, on the classic phantom and on the shifted phantom,
trained with and without the ultrasound augmentation; then fine-tuning on a few labelled shifted images against training
from scratch on the same images (the learning curve).

    python study/robustness/robustness.py WORK [--preset demo] [--augs 0 0.5] [--aug-stages segmentation] [--train-features low_contrast=0.4 ...]
                                    [--set segmentation.epochs=8 ...] [--seed 0] [--n-train 600] [--n-test 100] [--curve 10 20 50] [--keep quality landmarks] [--base-aug 0.5] [--no-scratch]
                                    [--base models_cpu_aug0.25_seg_n600] [--rehearse 300] [--adapt-pool] [--curve-wide]

Every step runs the command line as a user would (`crl-uls train`, `crl-uls evaluate`); every figure is `crl-uls evaluate`'s.
Writes WORK/robustness.json (after each step) and prints a table. Figures name the machine they ran on.
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

EXE = [sys.executable, '-m', 'crl_uls.cli']      # the command line, also where crl_uls travels on PYTHONPATH without its script (a lent GPU)
KEEP = ('dice_mean', 'dice_median', 'median_abs_crl_err_mm', 'crl_bias_mm', 'crl_loa_half_mm', 'within_tolerance', 'with_crl',
        'images', 'accepted_share', 'accepted_crl_loa_half_mm', 'large_errors', 'large_errors_not_accepted')

def sh(*args) -> str:
    r = subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True)
    if r.returncode not in (0,): raise SystemExit(f"crl-uls {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r.stdout

def data(folder:Path, n:int, size, seed:int, **kw) -> Path:
    "The phantoms at `folder`, written once; a folder written before must hold `n` of them (a preset's `n_train` may have changed since)."
    from crl_uls.phantom import write_phantoms
    if not (folder/'meta.csv').exists(): write_phantoms(folder, n, size, seed=seed, progress=False, **kw)
    with open(folder/'meta.csv') as f: have = sum(1 for _ in f) - 1
    if have != n: raise SystemExit(f'{folder} holds {have} phantoms, not {n} (written by an earlier run with other settings): use a fresh WORK')
    return folder

def train(dataset, out:Path, preset:str, aug:float, init=None, stages=None, keep=(), sets=(), seed=0, mix=None, adapt=None) -> dict:
    "Train a folder once (`stages`: the learners that get `us_aug`; None: all three; `sets`: more `--set` overrides; `mix`, `adapt`: crl-uls train's)."
    if not (out/'manifest.json').exists():
        augs = [a for st in stages for a in ('--set', f'{st}.us_aug={aug}')] if stages else ['--set', f'us_aug={aug}']
        sh('train', dataset, '--out', out, '--preset', preset, *augs, *[a for kv in sets for a in ('--set', kv)], '--seed', seed,
           '--quiet', *(['--init', init] if init else []), *(['--keep', *keep] if init and keep else []),
           *(['--mix', mix] if mix else []), *(['--adapt', adapt] if adapt else []))
    m = json.loads((out/'manifest.json').read_text())
    if not init: stale(m, out, preset)
    return {'train_seconds': m['train_seconds'], 'init': bool(m.get('init'))}

def stale(m:dict, out:Path, preset:str):
    "Stop when a folder trained before is not what `preset` (with the folder's own overrides) trains now: a changed preset must not reuse it."
    from crl_uls.train import settings_changes
    if diff := settings_changes(m, preset):
        raise SystemExit(f"{out} was trained with other settings than --preset {preset} gives now ({'; '.join(diff)}): use a fresh WORK")

def evaluate(models:Path, dataset:Path, out:Path) -> dict:
    s = json.loads(sh('evaluate', models, dataset, '--out', out, '--json', '--quiet'))
    r = lambda v: round(v, 4) if isinstance(v, float) else v
    by = {row['features']: [row['images'], r(row['dice_mean']), r(row['median_abs_crl_err_mm'])] for row in s.get('by', {}).get('features', [])}
    return {**{k: r(s[k]) for k in KEEP if k in s}, **({'by_features (images, dice_mean, median_abs_crl_err_mm)': by} if by else {})}

def plot(R:dict, path:Path):
    "The learning curve: Dice and median |CRL error| on the shifted test set against labelled images, fine-tuned and from scratch."
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    fig, axs = plt.subplots(1, 2, figsize=(9, 3.4))
    series = sorted({k.rsplit('_', 1)[0][len('curve_'):] for k in R['steps'] if k.startswith('curve_')})   # how, _keep, _rK, _from_NAME
    for how in series:
        pts = sorted((int(k.rsplit('_', 1)[1]), v['shifted']) for k, v in R['steps'].items() if k.rsplit('_', 1)[0] == f'curve_{how}')
        style = 's--' if how.startswith('scratch') else 'o-.' if '_keep' in how else 'o-'
        n = [p[0] for p in pts]
        axs[0].plot(n, [p[1]['dice_mean'] for p in pts], style, label=how.replace('_', '-'))
        axs[1].plot(n, [p[1]['median_abs_crl_err_mm'] for p in pts], style, label=how.replace('_', '-'))
    base = R['steps'].get(R.get('base') or f"models_{R['preset']}_aug{R.get('base_aug', 0.5):g}", {})
    for ax, k in ((axs[0], 'dice_mean'), (axs[1], 'median_abs_crl_err_mm')):
        for test, c in (('wide', 'g'), ('shifted', 'r')):
            if test in base: ax.axhline(base[test][k], color=c, lw=0.8, ls=':', label=f'phantom-trained, {test} test')
        ax.set_xlabel('labelled shifted-phantom images'); ax.grid(alpha=0.3)
        ax.set_xticks(sorted({int(k.rsplit('_', 1)[1]) for k in R['steps'] if k.startswith('curve_')}))
    axs[0].set_ylabel('Dice, mean'); axs[1].set_ylabel('|CRL error|, median (mm)'); axs[0].legend(fontsize=7)
    fig.suptitle(f"Fine-tuning vs training from scratch, shifted test set ({R['preset']} preset; {R['machine']})", fontsize=9)
    fig.tight_layout(); fig.savefig(path, dpi=110); plt.close(fig)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('work'); ap.add_argument('--preset', default='demo')
    ap.add_argument('--augs', type=float, nargs='*', default=[0.0, 0.5], help='us_aug settings to compare')
    ap.add_argument('--aug-stages', nargs='*', choices=['segmentation', 'quality', 'landmarks'],
                    help='the learners that get the augmentation (default: all three; the folder name then says which)')
    ap.add_argument('--train-features', nargs='*', default=[], metavar='NAME=CHANCE',
                    help="a training set drawn with other feature chances (crl-uls synth --feature); the test sets keep the usual ones")
    ap.add_argument('--set', nargs='*', default=[], metavar='[STAGE.]KEY=VALUE', dest='sets',
                    help='more preset overrides for the trained folders (crl-uls train --set; not with a --curve); the folder name says them')
    ap.add_argument('--seed', type=int, default=0, help='training seed of the trained folders (crl-uls train --seed; not with a --curve)')
    ap.add_argument('--n-train', type=int, default=None,
                    help="training phantoms of the trained folders (default: the preset's n_train; not with a --curve); the names say it")
    ap.add_argument('--n-test', type=int, default=100); ap.add_argument('--curve', type=int, nargs='*', default=[10, 20, 50])
    ap.add_argument('--keep', nargs='*', default=[], choices=['segmentation', 'quality', 'landmarks'],
                    help='the learners the fine-tuning steps keep from the start folder (crl-uls train --keep)')
    ap.add_argument('--base-aug', type=float, default=0.5, help='which trained folder the fine-tuning starts from')
    ap.add_argument('--base', help="the trained folder in WORK the fine-tuning starts from (default models_PRESET_augBASE_AUG); "
                                   "the curve's folders then say it")
    ap.add_argument('--rehearse', type=int, default=0, metavar='K',
                    help='the curve trains on its shifted images plus the first K training phantoms (crl-uls train --mix: held out, the shifted ones only); the names say it')
    ap.add_argument('--adapt-pool', action='store_true',
                    help="the fine-tuned U-Nets' BatchNorm statistics re-estimated on the curve's own shifted images (crl-uls train --adapt); the names say it")
    ap.add_argument('--no-scratch', action='store_true', help='fine-tune only: skip training from scratch on the same images')
    ap.add_argument('--curve-wide', action='store_true', help="score the curve's folders on the wider test too (what fine-tuning costs in distribution)")
    ap.add_argument('--plot-only', action='store_true', help='draw the learning curve from WORK/robustness.json and stop')
    a = ap.parse_args()
    if (a.sets or a.seed or a.n_train) and a.curve:    # the curve's folders are named by size alone and start from the plain base folder
        ap.error('--set, --seed and --n-train apply to the trained folders only; give --curve with no sizes beside them')
    if a.rehearse < 0: ap.error(f'--rehearse must be at least 0, got {a.rehearse}')
    if a.n_train is not None and a.n_train < 1: ap.error(f'--n-train must be at least 1, got {a.n_train}')
    if a.plot_only:
        R = json.loads((Path(a.work)/'robustness.json').read_text()); plot(R, Path(a.work)/'learning_curve.png'); return
    os.environ.setdefault('CRL_ULS_THREADS', str(os.cpu_count() or 1))
    from crl_uls.train import training_settings
    from crl_uls.core import run_device
    W, D = Path(a.work), training_settings(a.preset)['data']
    W.mkdir(parents=True, exist_ok=True)
    old = W/'robustness.json'                      # a later run with other steps adds to the figures, never drops them
    base = a.base or f'models_{a.preset}_aug{a.base_aug:g}'
    R = {**(json.loads(old.read_text()) if old.exists() else {'steps': {}}), 'preset': a.preset, 'machine': run_device(), 'base_aug': a.base_aug, 'base': base}
    save = lambda: (W/'robustness.json').write_text(json.dumps(R, indent=1))
    t0 = time.time()
    mix = {k: float(v) for k, _, v in (f.partition('=') for f in a.train_features)}
    tag = '_mix_' + '_'.join(f"{k}{v:g}" for k, v in sorted(mix.items())) if mix else ''
    n_train = a.n_train or D['n_train']             # the same seed: a larger set holds the preset's one as its first images
    size_tag = f'_n{n_train}' if n_train != D['n_train'] else ''
    train_set = data(W/f'train{tag}{size_tag}', n_train, D['render'], 1, **({'features': mix} if mix else {}))
    tests = {'wide': data(W/'test_wide', a.n_test, D['test_size'], 901),
             'classic': data(W/'test_classic', a.n_test, D['test_size'], 901, features=False),
             'shifted': data(W/'test_shifted', a.n_test, D['test_size'], 902, domain='shifted')}
    extra = size_tag + ''.join('_' + kv.replace('=', '') for kv in a.sets) + (f'_seed{a.seed}' if a.seed else '')
    for aug in a.augs:
        m = W/(f'models_{a.preset}_aug{aug:g}' + (''.join('_' + st[:3] for st in a.aug_stages) if a.aug_stages else '') + tag + extra)
        step = {'train': {**train(train_set, m, a.preset, aug, stages=a.aug_stages, sets=a.sets, seed=a.seed),
                          **({'features': mix} if mix else {}), **({'set': a.sets} if a.sets else {}), **({'seed': a.seed} if a.seed else {}),
                          **({'n_train': n_train} if size_tag else {})}}
        for k, d in tests.items(): step[k] = evaluate(m, d, W/f'eval_{m.name}_{k}')
        R['steps'][m.name] = step; save()
        print(m.name, json.dumps(step), flush=True)
    if a.curve and not (W/base/'manifest.json').exists(): raise SystemExit(f'{W/base}: no trained folder to fine-tune from (--base, --base-aug)')
    rehearse = data(W/f'train{tag}_first{a.rehearse}', a.rehearse, D['render'], 1, **({'features': mix} if mix else {})) if a.rehearse else None  # the training set's first K: same seed
    for n in a.curve:
        pool = data(W/f'shifted_{n}', n, D['render'], 903, domain='shifted')    # the same seed: each set holds the smaller ones
        ctag = (f'_r{a.rehearse}' if a.rehearse else '') + (f"_from_{base.removeprefix('models_')}" if a.base else '')
        for how, init in (('fine_tune', W/base), ('scratch', None))[:1 if a.no_scratch else 2]:
            ada = pool if init and a.adapt_pool else None
            m = W/f"curve_{how}{'_keep' if init and a.keep else ''}{ctag if init else ctag.partition('_from_')[0]}{'_adapt' if ada else ''}_{n}"
            step = {'train': {**train(pool, m, a.preset, a.base_aug, init, keep=a.keep, stages=a.aug_stages, mix=rehearse, adapt=ada),
                              **({'keep': a.keep} if init and a.keep else {}), **({'rehearse': a.rehearse} if a.rehearse else {}),
                              **({'adapt': 'pool'} if ada else {}),
                              **({'base': base} if init else {})},
                    'shifted': evaluate(m, tests['shifted'], W/f'eval_{m.name}'),
                    **({'wide': evaluate(m, tests['wide'], W/f'eval_{m.name}_wide')} if a.curve_wide else {})}
            R['steps'][m.name] = step; save()
            print(m.name, json.dumps(step), flush=True)
    R['seconds'] = round(time.time() - t0); save()
    if a.curve: plot(R, W/'learning_curve.png')
    print(f"done in {R['seconds']} s; {W/'robustness.json'}")

if __name__ == '__main__': main()
