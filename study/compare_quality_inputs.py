#!/usr/bin/env python3
"""Which input lets the Good/Bad learner judge best: the masked image (the original study's) or three channels
(image, candidate mask, masked image)? Both learners train on the same candidates and are scored on the same
held-out candidates (other phantoms), by balanced accuracy and ROC AUC against the label (the CRL measured on
the candidate within 2.5 mm or 5%).

    python study/compare_quality_inputs.py [--n 100] [--n-test 40] [--render 96] [--size 48] [--epochs 5] [--per-image 4]

Candidates are corruptions of the true masks (the training chapter adds cross-fitted U-Net outputs too;
left out here to keep the comparison to one kind of candidate and a CPU's minutes). Prints one line per input.
"""
import argparse, json, tempfile, time, warnings
from pathlib import Path
import numpy as np

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=100); ap.add_argument('--n-test', type=int, default=40)
    ap.add_argument('--render', type=int, default=96); ap.add_argument('--size', type=int, default=48)
    ap.add_argument('--epochs', type=int, default=5)
    ap.add_argument('--per-image', type=int, default=4); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--bs', type=int, default=16)
    a = ap.parse_args()
    from sklearn.metrics import roc_auc_score
    from crl_uls.core import seed_everything, set_threads, run_device
    from crl_uls.data import read_image, read_mask
    from crl_uls.phantom import write_phantoms
    from crl_uls.learners import quality_dls
    from crl_uls.quality import quality_items, quality_learner, predict_qualities
    from crl_uls.evaluate import balanced_accuracy
    set_threads()
    work = Path(tempfile.mkdtemp())
    write_phantoms(work/'train', a.n, a.render, seed=a.seed + 40, progress=False)
    write_phantoms(work/'test', a.n_test, a.render, seed=a.seed + 41, progress=False)
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*items left out')
        train = quality_items(work/'train', work/'ct', a.per_image, seed=a.seed)
        test = quality_items(work/'test', work/'cv', a.per_image, seed=a.seed + 1)
    images = [read_image(f) for f in test.image]; masks = [read_mask(f) for f in test['mask']]
    y = (test.quality == 'good').to_numpy()
    out = {'device': run_device(), 'train_candidates': len(train), 'test_candidates': len(test), **vars(a)}
    for mode in ('masked', 'channels'):
        seed_everything(a.seed)
        learn = quality_learner(quality_dls(train, size=a.size, bs=a.bs, seed=a.seed, input=mode), input=mode)
        t = time.time()
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(a.epochs, 2e-3)
        p = np.array([q for _, q in predict_qualities(learn, images, masks, a.bs)])
        out[mode] = {'balanced_accuracy': round(balanced_accuracy(p >= 0.5, y), 3), 'roc_auc': round(float(roc_auc_score(y, p)), 3),
                     'train_seconds': round(time.time() - t, 1)}
        print(mode, out[mode], flush=True)
    print(json.dumps(out))

if __name__ == '__main__': main()
