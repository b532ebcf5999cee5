"""Benchmark: a 30-frame cine loop (one multi-frame DICOM) against 30 single images of the same size, with the tiny models.

    OMP_NUM_THREADS=1 python tools/bench_cine.py [--frames 30] [--size 96] [--device cpu]

Prints the seconds of each and their ratio (target: the loop at most 1.5x the singles). A benchmark, not a test."""
import argparse, json, tempfile, time
from pathlib import Path
import numpy as np

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--frames', type=int, default=30); ap.add_argument('--size', type=int, default=96)
    ap.add_argument('--device', default='cpu'); ap.add_argument('--repeats', type=int, default=2)
    a = ap.parse_args()
    from crl_uls.phantom import make_phantom
    from crl_uls.data import write_dicom
    from crl_uls.train import example_models
    from crl_uls.pipeline import Pipeline
    ps = [make_phantom(seed=5, index=i, size=a.size) for i in range(a.frames)]
    d = Path(tempfile.mkdtemp())
    singles = [write_dicom(d/f'single_{i:02d}.dcm', p.image, p.mm_per_px) for i, p in enumerate(ps)]
    loop = write_dicom(d/'loop.dcm', np.stack([p.image for p in ps]), ps[0].mm_per_px)
    pipe = Pipeline.load(example_models('tiny'), device=a.device, points='geometric')
    list(pipe.predict_many(singles[:2], progress=False))                 # warm up
    def timed(inputs, **kw):
        best = float('inf')
        for _ in range(a.repeats):
            t = time.perf_counter(); out = list(pipe.predict_many(inputs, progress=False, **kw)); best = min(best, time.perf_counter() - t)
        return best, out
    ts, rs = timed(singles)
    tl, rl = timed([loop])
    assert len(rs) == a.frames and len(rl) == 1 and rl[0].frames_measured == a.frames
    print(json.dumps({'frames': a.frames, 'size': a.size, 'device': a.device, 'singles_s': round(ts, 3), 'loop_s': round(tl, 3),
                      'ratio_loop_to_singles': round(tl / ts, 3), 'target': '<= 1.5', 'best_frame': rl[0].frame}))

if __name__ == '__main__': main()
