#!/usr/bin/env python3
"""Dice of model folders' U-Nets on test sets: each alone, and their probability maps averaged (an ensemble).

    python study/robustness/ensemble_dice.py --models a=W/models_x b=W/models_y --tests shifted=W/test_shifted wide=W/test_wide
                                  [--max 2] [--csv dice.csv] [--adapt W/unlabelled_shifted_200]

Each U-Net predicts as the pipeline does (the image and its mirror image, averaged, then `clean_mask` of p > 0.5);
an ensemble averages the members' maps before the threshold. A folder may also be a bare segmentation.pkl.
Prints, per test set and combination, the mean and median Dice and the images under 0.5. A screen, not a test:
it says whether averaging U-Nets is worth building into the pipeline, before anything is built. With --adapt, each U-Net
is also scored as NAME+bn, its BatchNorm statistics re-estimated on that folder's images (`adapt_batchnorm`, what
`crl-uls train --adapt` does to a U-Net; no labels are read).
"""
import argparse, itertools, warnings
from pathlib import Path
import numpy as np, pandas as pd

def pair(text:str):
    k, sep, v = text.partition('=')
    if not sep or not k or not v: raise argparse.ArgumentTypeError(f"give NAME=PATH, got {text!r}")
    return k, Path(v)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--models', nargs='+', type=pair, required=True, help='NAME=FOLDER (or NAME=FILE.pkl) for each U-Net')
    ap.add_argument('--tests', nargs='+', type=pair, required=True, help='NAME=DATASET: a data set folder with masks (crl-uls check-data)')
    ap.add_argument('--max', type=int, default=None, help='largest ensemble to score (default: all the models)')
    ap.add_argument('--csv', type=Path, help='write every image\'s Dice per test set and combination here')
    ap.add_argument('--adapt', type=Path, help='DATASET: also score each U-Net adapted to its images (named NAME+bn)')
    a = ap.parse_args()
    from fastai.learner import load_learner
    from crl_uls.core import set_threads, torch_device
    from crl_uls.data import good_items
    from crl_uls.learners import read_item_image, read_item_mask, adapt_batchnorm
    from crl_uls.segmentation import predict_probs, clean_mask, dice
    set_threads()
    warnings.filterwarnings('ignore', message='load_learner` uses Python')    # the user names the files to load
    dev = torch_device(None)                                                 # the GPU when there is one, as the pipeline does
    load = lambda p: load_learner(p if p.suffix == '.pkl' else p/'segmentation.pkl', cpu=dev.type == 'cpu')
    nets = {k: load(p) for k, p in a.models}
    if a.adapt:
        pool = [read_item_image(r) for r in good_items(a.adapt, ('image',)).to_dict('records')]
        for k, p in a.models: nets[f'{k}+bn'] = load(p)
    for k, l in nets.items():
        l.dls.to(dev); l.model.to(dev)
        if k.endswith('+bn'): print(f"{k}: {adapt_batchnorm(l, pool)} BatchNorm layers adapted to {len(pool)} images of {a.adapt}", flush=True)
    rows = {}
    for ts, d in a.tests:
        items = good_items(d, ('image', 'mask')).to_dict('records')   # the data set's own reader: any image format, faults left out
        ids = [r['id'] for r in items]
        imgs = [read_item_image(r) for r in items]
        truth = [read_item_mask(r['mask'], im.shape) > 0 for r, im in zip(items, imgs)]
        maps = {k: [(p + f) / 2 for p, f in zip(predict_probs(l, imgs), predict_probs(l, imgs, flip=True))] for k, l in nets.items()}
        for r in range(1, (a.max or len(nets)) + 1):
            for combo in itertools.combinations(nets, r):
                ds = [dice(clean_mask(sum(maps[k][i] for k in combo) / r > 0.5), truth[i]) for i in range(len(ids))]
                rows[(ts, '+'.join(combo))] = pd.Series(ds, index=ids)
                print(f"{ts:>10} {'+'.join(combo):<14} Dice mean {np.mean(ds):.3f}, median {np.median(ds):.3f}, "
                      f"{sum(x < 0.5 for x in ds)} of {len(ds)} under 0.5", flush=True)
    if a.csv: pd.DataFrame(rows).to_csv(a.csv)

if __name__ == '__main__': main()
