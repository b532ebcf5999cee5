#!/usr/bin/env python3
"""Segmentation accuracy per CPU-minute: train one U-Net with the given settings, then measure held-out phantoms.

    python tools/bench_segmentation.py [--render 256] [--n 128] [--size 64] [--arch resnet34] [--epochs 10] [--lr 3e-3]
        [--bs 8] [--last-cross 0] [--fine-size 128 --fine-epochs 2 --fine-lr 1e-3] [--aug 1] [--ntest 24]

Trains on `--n` phantoms rendered at `--render` px (a fifth held out for validation), optionally then `--fine-epochs`
at `--fine-size` (progressive resizing), and measures `--ntest` phantoms of another seed at 320x256 with the outline's
extremes of the cleaned mask as calipers (what `--points auto` reports). Prints one line, `RESULT {json}`: training
seconds, validation and held-out Dice, median and 90th-percentile |CRL error| (mm) and how many are within tolerance.
Phantoms are kept in `--work` between runs. A benchmark prints figures; it is not a timed test.
"""
import argparse, json, time, warnings
from pathlib import Path
import numpy as np, pandas as pd

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--render', default='256'); ap.add_argument('--n', type=int, default=128)
    ap.add_argument('--size', type=int, default=64); ap.add_argument('--arch', default='resnet34')
    ap.add_argument('--epochs', type=int, default=10); ap.add_argument('--lr', type=float, default=3e-3)
    ap.add_argument('--bs', type=int, default=8); ap.add_argument('--ntest', type=int, default=24)
    ap.add_argument('--last-cross', type=int, default=1); ap.add_argument('--aug', type=int, default=1)
    ap.add_argument('--fine-size', type=int, default=128); ap.add_argument('--fine-epochs', type=int, default=0)
    ap.add_argument('--fine-lr', type=float, default=1e-3); ap.add_argument('--work', default='/tmp/crl_uls_bench')
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    from crl_uls.core import set_threads, seed_everything
    from crl_uls.phantom import write_phantoms, parse_size
    from crl_uls.data import good_items, assign_split, read_image
    from crl_uls.learners import seg_dls
    from crl_uls.segmentation import seg_learner, predict_probs, clean_mask, geometric_points, dice
    from crl_uls.biometry import crl_mm, crl_within_tolerance
    threads = set_threads(); seed_everything(0)
    root = Path(a.work); tr, te = root/f'train_{a.render}_{a.n}', root/f'test_{a.ntest}'
    if not (tr/'meta.csv').exists(): write_phantoms(tr, a.n, parse_size(a.render), seed=0, workers=1, progress=False)
    if not (te/'meta.csv').exists(): write_phantoms(te, a.ntest, (320, 256), seed=1, workers=1, progress=False)
    items = assign_split(good_items(tr, ('image', 'mask', 'points')), 0.2, 0)
    t0 = time.time()
    learn = seg_learner(seg_dls(items, size=a.size, bs=a.bs, seed=0, aug=bool(a.aug)), arch=a.arch, last_cross=bool(a.last_cross))
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(a.epochs, a.lr)
        if a.fine_epochs:
            learn.dls = seg_dls(items, size=a.fine_size, bs=a.bs, seed=0, aug=bool(a.aug))
            learn.fit_one_cycle(a.fine_epochs, a.fine_lr)
    train_s = time.time() - t0
    with learn.no_bar(), learn.no_logging(): valid_dice = float(learn.validate()[1])
    m = pd.read_csv(te/'meta.csv')
    probs = predict_probs(learn, [read_image(te/'images'/f'{i}.png') for i in m.id], 16)
    errs, ds = [], []
    for p, r in zip(probs, m.itertuples()):
        mk = clean_mask(p > 0.5)
        ds.append(dice(mk, read_image(te/'masks'/f'{r.id}.png')))
        try: c, rr = geometric_points(mk); errs.append(float(crl_mm(c, rr, r.mm_per_px)) - r.crl_mm)
        except ValueError: errs.append(np.nan)
    e = np.array(errs)
    ok = crl_within_tolerance(m.crl_mm.to_numpy() + e, m.crl_mm.to_numpy())
    print('RESULT', json.dumps({**vars(a), 'threads': threads, 'train_s': round(train_s, 1), 'valid_dice': round(valid_dice, 3),
                                'test_dice_mean': round(float(np.mean(ds)), 3), 'test_dice_p10': round(float(np.percentile(ds, 10)), 3),
                                'median_abs_crl_err_mm': round(float(np.nanmedian(np.abs(e))), 2),
                                'p90_abs_crl_err_mm': round(float(np.nanpercentile(np.abs(e), 90)), 2),
                                'within_tolerance': f'{int(np.sum(ok))}/{len(e)}', 'no_mask': int(np.isnan(e).sum())}), flush=True)

if __name__ == '__main__': main()
