#!/usr/bin/env python3
"""Where training time goes, per stage: data loading and augmentation, forward, backward, optimiser step.

    python tools/bench_training.py [--stages segmentation quality landmarks] [--sizes 64 96 128] [--bs 8 16]
                                   [--archs resnet34 resnet18] [--batches 6] [--channels-last]

For each stage, encoder, image size and batch size it times `--batches` training steps (after one warm-up step) of
the learner crl_uls builds, on phantoms rendered at 256 px, and prints milliseconds per image for each part and the
seconds one epoch of 100 images takes. A benchmark prints figures; it is not a timed test. Threads: `CRL_ULS_THREADS`,
else `OMP_NUM_THREADS`, else the free cores (`crl_uls.core.set_threads`), as in training.
"""
import argparse, os, platform, tempfile, time, warnings
from pathlib import Path

def _learner(stage, items, size, bs, arch):
    "The stage's DataLoaders and learner, as `train_models` builds them (the quality items use the true masks)."
    from crl_uls.learners import seg_dls, quality_dls, landmark_dls
    from crl_uls.segmentation import seg_learner
    from crl_uls.quality import quality_learner
    from crl_uls.landmarks import landmark_learner
    if stage == 'segmentation': return seg_learner(seg_dls(items, size=size, bs=bs), arch=arch)
    if stage == 'quality':
        q = items.assign(quality=['good', 'bad'] * (len(items) // 2) + ['good'] * (len(items) % 2))
        return quality_learner(quality_dls(q, size=size, bs=bs), arch=arch)
    return landmark_learner(landmark_dls(items, size=size, bs=bs), arch=arch)

def time_steps(learn, batches:int, channels_last:bool=False) -> dict:
    "Seconds per batch of: drawing it (loading, resizing, augmenting), forward + loss, backward, optimiser step."
    import torch
    model = learn.model.train()
    if channels_last: model = model.to(memory_format=torch.channels_last)
    learn.create_opt()
    it, parts = iter(learn.dls.train), {'data': 0.0, 'forward': 0.0, 'backward': 0.0, 'optimiser': 0.0}
    def step(record):
        t0 = time.perf_counter()
        try: b = next(it)
        except StopIteration: return False
        xb, yb = b[:learn.dls.n_inp], b[learn.dls.n_inp:]
        if channels_last: xb = [x.contiguous(memory_format=torch.channels_last) for x in xb]
        t1 = time.perf_counter(); loss = learn.loss_func(model(*xb), *yb)
        t2 = time.perf_counter(); loss.backward()
        t3 = time.perf_counter(); learn.opt.step(); learn.opt.zero_grad()
        t4 = time.perf_counter()
        if record:
            for k, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)): parts[k] += dt
        return True
    step(False)                                            # warm-up: first allocations, lazy initialisation
    n = sum(step(True) for _ in range(batches))
    if not n: raise ValueError('too few training items for one timed batch: use more phantoms or a smaller --bs')
    return {k: v / n for k, v in parts.items()}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--stages', nargs='+', default=['segmentation', 'quality', 'landmarks'])
    ap.add_argument('--sizes', nargs='+', type=int, default=[64, 96, 128])
    ap.add_argument('--bs', nargs='+', type=int, default=[8, 16])
    ap.add_argument('--archs', nargs='+', default=None, help="encoders to try (default: each stage's own)")
    ap.add_argument('--batches', type=int, default=6); ap.add_argument('--channels-last', action='store_true')
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    import torch
    from crl_uls.core import set_threads
    from crl_uls.phantom import write_phantoms
    from crl_uls.data import good_items, assign_split
    threads = set_threads()
    default = {'segmentation': 'resnet34', 'quality': 'vgg16_bn', 'landmarks': 'resnet34'}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{threads} threads{', channels_last' if a.channels_last else ''}; ms per image (one training step = data + forward + backward + optimiser)")
    print(f"{'stage':13} {'arch':10} {'size':>4} {'bs':>3} {'data':>7} {'forward':>8} {'backward':>9} {'optim':>6} {'total':>7} {'s/epoch of 100':>15}")
    with tempfile.TemporaryDirectory() as d:
        n = int(max(a.bs) * (a.batches + 2) / 0.8) + 4
        write_phantoms(Path(d)/'p', n, 256, seed=0, workers=1, progress=False)
        items = assign_split(good_items(Path(d)/'p', ('image', 'mask', 'points')), 0.2, 0)
        for stage in a.stages:
            for arch in (a.archs or [default[stage]]):
                for size in a.sizes:
                    for bs in a.bs:
                        learn = _learner(stage, items, size, bs, arch)
                        t = {k: 1000 * v / bs for k, v in time_steps(learn, a.batches, a.channels_last).items()}
                        tot = sum(t.values())
                        print(f"{stage:13} {arch:10} {size:>4} {bs:>3} {t['data']:>7.1f} {t['forward']:>8.1f} {t['backward']:>9.1f} "
                              f"{t['optimiser']:>6.1f} {tot:>7.1f} {tot / 10:>15.1f}", flush=True)

if __name__ == '__main__': main()
