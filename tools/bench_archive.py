"""Measuring an archive: `crl-uls predict` on many phantom DICOM files, with and without reader workers.

    python tools/bench_archive.py MODELS [--n 100 1000] [--workers 0 1] [--bs 16] [--work DIR]

Writes the largest number of DICOM files once (phantoms of 320x256 px, their spacing inside each file), then runs the
command line as a user would (`crl-uls predict MODELS FOLDER --workers W --out CSV --quiet`) for every (files, workers)
pair and records its wall time and the peak memory of its whole process tree (the measuring process and its workers,
sampled every 100 ms). Then, in this process, the ceiling: the three networks' bare forward passes on ready tensors at
the prediction batch size (two passes each for the U-Net and the landmark model, which also measure the mirror image),
and where the whole pipeline's time goes on the smallest set without workers. Prints a table and `RESULT {json}`.
"""
import argparse, csv, json, os, shutil, subprocess, sys, threading, time, warnings
from pathlib import Path

def write_archive(folder:Path, n:int, distinct:int=50):
    "n DICOM files, cycling through `distinct` phantoms (decoding costs the same whichever phantom a file holds)."
    from crl_uls.phantom import make_phantom
    from crl_uls.data import write_dicom
    folder.mkdir(parents=True, exist_ok=True)
    have = len(list(folder.glob('*.dcm')))
    if have >= n: return
    ps = [make_phantom(seed=9100, index=i, size=(320, 256)) for i in range(distinct)]
    for i in range(have, n): write_dicom(folder/f'scan_{i:06d}.dcm', ps[i % distinct].image, ps[i % distinct].mm_per_px)

def subset(src:Path, dst:Path, n:int) -> Path:
    "A folder holding links to the first n files of `src`."
    if dst.exists(): shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for f in sorted(src.glob('*.dcm'))[:n]: (dst/f.name).symlink_to(f.resolve())
    return dst

def run_predict(models, folder, workers:int, bs:int, out_csv) -> dict:
    "Wall seconds and the peak resident memory (MB) of the process tree of one `crl-uls predict` run."
    import psutil
    exe = Path(sys.executable).parent/'crl-uls'
    cmd = [str(exe), 'predict', str(models), str(folder), '--workers', str(workers), '--bs', str(bs), '--out', str(out_csv), '--quiet']
    t = time.perf_counter(); p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak, root = 0, psutil.Process(p.pid)
    def watch():
        nonlocal peak
        while p.poll() is None:
            try:
                procs = [root] + root.children(recursive=True)
                peak = max(peak, sum(q.memory_info().rss for q in procs if q.is_running()))
            except psutil.Error: pass
            time.sleep(0.1)
    w = threading.Thread(target=watch); w.start()
    err = p.stderr.read(); p.wait(); wall = time.perf_counter() - t; w.join()
    if p.returncode not in (0,): raise SystemExit(f"crl-uls predict failed ({p.returncode}):\n{err[-2000:]}")
    rows = list(csv.DictReader(open(out_csv)))
    return {'wall_s': round(wall, 2), 'peak_mb': round(peak / 2**20, 1), 'rows': len(rows), 'errors': sum(bool(r['error']) for r in rows)}

def ceiling(pipe, bs:int, reps:int=5) -> dict:
    "Images per second of each network's bare forward pass on a ready batch, and of the pipeline's passes together."
    import torch
    from fastai.torch_core import TensorImage
    per = {}
    for name, learn in (('segmentation', pipe.seg), ('quality', pipe.quality), ('landmarks', pipe.landmarks)):
        s = learn.crl_uls.size
        x = learn.dls.after_batch((TensorImage(torch.randint(0, 255, (bs, 3, s, s), dtype=torch.uint8)).to(learn.dls.device),))[0]
        learn.model.eval()
        with torch.no_grad():
            learn.model(x)                                                    # warm-up
            if torch.cuda.is_available(): torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(reps): learn.model(x)
            if torch.cuda.is_available(): torch.cuda.synchronize()
        per[name] = (time.perf_counter() - t) / (reps * bs)
    passes = {'segmentation': 2 if pipe.tta else 1, 'quality': 1, 'landmarks': 2 if pipe.tta else 1}
    total = sum(per[k] * passes[k] for k in per)
    return {'forward_ms_per_img': {k: round(1000 * v, 2) for k, v in per.items()}, 'passes': passes,
            'ceiling_img_per_s': round(1 / total, 2), 'forward_s_per_img': total}

def breakdown(pipe, files, out_csv) -> dict:
    "Seconds by kind of work when one process measures `files`: decoding, letterboxing, forward passes, the rest of the stages, measuring, writing."
    import numpy as np
    from crl_uls.pipeline import load_input, work_copy, ROW_COLS
    from crl_uls.learners import letterbox
    t = time.perf_counter(); imgs = [load_input(f)[1] for f in files]; decode = time.perf_counter() - t
    t = time.perf_counter()
    for img in imgs:
        w = work_copy(img)[0]
        for learn, k in ((pipe.seg, 2 if pipe.tta else 1), (pipe.quality, 1), (pipe.landmarks, 2 if pipe.tta else 1)):
            for _ in range(k): letterbox(w, learn.crl_uls.size)
    lbox = time.perf_counter() - t
    for k in pipe.timings: pipe.timings[k] = 0.0
    t = time.perf_counter()
    with open(out_csv, 'w', newline='') as f:
        wr = csv.DictWriter(f, ROW_COLS); wr.writeheader(); tw = 0.0
        for m in pipe.predict_many(files, progress=False):
            t1 = time.perf_counter(); wr.writerow(m.row()); tw += time.perf_counter() - t1
    wall = time.perf_counter() - t
    return {'wall_s': wall, 'decode_s': decode, 'letterbox_s': lbox, 'stage_s': dict(pipe.timings), 'write_s': tw}

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('models'); ap.add_argument('--n', type=int, nargs='+', default=[100, 1000])
    ap.add_argument('--workers', type=int, nargs='+', default=[0, 1]); ap.add_argument('--bs', type=int, default=16)
    ap.add_argument('--work', default='bench_archive', help='folder for the DICOM files and outputs (default ./bench_archive)')
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    from crl_uls.core import run_device, usable_cores
    from crl_uls.pipeline import Pipeline
    work = Path(a.work); ns = sorted(a.n)
    t = time.perf_counter(); write_archive(work/'all', ns[-1]); print(f"{ns[-1]} DICOM files in {work/'all'} ({time.perf_counter() - t:.0f} s)", flush=True)
    runs = []
    for n in ns:
        folder = subset(work/'all', work/f'n{n}', n)
        for w in a.workers:
            r = {'files': n, 'workers': w, **run_predict(a.models, folder, w, a.bs, work/f'n{n}_w{w}.csv')}
            r['img_per_s'] = round(n / r['wall_s'], 2); runs.append(r); print(json.dumps(r), flush=True)
    for w in a.workers:             # the rate once started: the largest run less the smallest (model loading, worker start-up)
        lo, hi = [next(r for r in runs if r['files'] == n and r['workers'] == w) for n in (ns[0], ns[-1])]
        if hi['files'] > lo['files']:
            for r in runs:
                if r['workers'] == w: r['steady_img_per_s'] = round((hi['files'] - lo['files']) / (hi['wall_s'] - lo['wall_s']), 2)
    pipe = Pipeline.load(a.models, bs=a.bs)
    c = ceiling(pipe, a.bs)
    b = breakdown(pipe, sorted((work/f'n{ns[0]}').iterdir()), work/'breakdown.csv')
    n0 = ns[0]; fwd = c['forward_s_per_img'] * n0
    model_s = sum(b['stage_s'][k] for k in ('segmentation', 'quality', 'landmarks'))
    parts = {'decoding (read + DICOM + grey)': b['stage_s']['read'], 'forward passes (the ceiling)': fwd,
             'letterboxing (all passes)': b['letterbox_s'], 'batching and post-processing (masks, signals, points)': max(0.0, model_s - fwd - b['letterbox_s']),
             'measuring (criteria, CRL, GA, acceptance)': b['stage_s']['measure'], 'writing the CSV': b['write_s']}
    other = b['wall_s'] - sum(parts.values()); parts['other'] = max(0.0, other)
    steady = max((r.get('steady_img_per_s', 0) for r in runs), default=0)
    res = {'device': run_device(), 'cores': usable_cores(), 'models': str(a.models), 'bs': a.bs, 'runs': runs,
           'ceiling': {k: v for k, v in c.items() if k != 'forward_s_per_img'},
           'share_of_ceiling': round(steady / c['ceiling_img_per_s'], 3) if steady else None,
           'where_time_goes': {'files': n0, 'workers': 0, 'wall_s': round(b['wall_s'], 2),
                               'parts_s': {k: round(v, 2) for k, v in parts.items()},
                               'parts_pct': {k: round(100 * v / b['wall_s'], 1) for k, v in parts.items()}}}
    print(f"\n{res['device']}, batch {a.bs}; models {a.models}")
    print(f"{'files':>6} {'workers':>7} {'wall s':>8} {'img/s':>7} {'steady img/s':>12} {'peak MB':>8} {'errors':>6}")
    for r in runs: print(f"{r['files']:>6} {r['workers']:>7} {r['wall_s']:>8.1f} {r['img_per_s']:>7.1f} {r.get('steady_img_per_s', float('nan')):>12.1f} {r['peak_mb']:>8.0f} {r['errors']:>6}")
    print(f"ceiling (bare forward passes, {c['passes']}): {c['ceiling_img_per_s']} img/s; "
          f"ms/img {c['forward_ms_per_img']}; best steady rate = {res['share_of_ceiling']} of it")
    print(f"where the time goes ({n0} files, no workers, {b['wall_s']:.1f} s):")
    for k, v in parts.items(): print(f"  {k:<55} {v:7.2f} s  {100 * v / b['wall_s']:5.1f}%")
    print('RESULT ' + json.dumps(res))
