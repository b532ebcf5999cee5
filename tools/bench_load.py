"""Load time of a model folder: the learners rebuilt in code from their safetensors weights (what predict, evaluate and
app do, nothing unpickled) against fastai's exported .pkl learners unpickled (the way model folders loaded before).

    python tools/bench_load.py [MODELS] [--repeats 5]

Each trial is a fresh process: it imports the libraries (timed apart), then loads the folder's three learners one way,
both ways reading each file once and hashing it as they load: `load_learners` (checked against the manifest, rebuilt in
code, the weights used in place) against fastai's `load_learner` on the .pkl bytes. What `Pipeline.load` adds to either
(the choice of threads, the acceptance model) is the same for both and not timed. The two ways alternate, and the medians are printed with their ratio
(target: the safetensors folder at most 1.2x the .pkl one). A benchmark, not a test; run it alone on the machine."""
import argparse, json, statistics, subprocess, sys

TRIAL = r'''
import time, sys, json, io, hashlib
t0 = time.perf_counter()
import torch, fastai.vision.all
from fastai.learner import load_learner
from crl_uls.pipeline import load_learners, STAGES
t1 = time.perf_counter()
folder, way = sys.argv[1], sys.argv[2]
if way == 'safetensors': load_learners(folder)
else:
    import warnings; warnings.simplefilter('ignore')
    for st in STAGES:
        b = open(f'{folder}/{st}.pkl', 'rb').read(); hashlib.sha256(b).hexdigest()
        load_learner(io.BytesIO(b), cpu=True)
t2 = time.perf_counter()
print(json.dumps({'import_s': t1 - t0, 'load_s': t2 - t1}))
'''

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('models', nargs='?', default=None, help='a model folder with both kinds of files (default: the tiny example models)')
    ap.add_argument('--repeats', type=int, default=5)
    a = ap.parse_args()
    if a.models is None:
        from crl_uls.train import example_models
        a.models = str(example_models('tiny'))
    runs = {'safetensors': [], 'pkl': []}
    for _ in range(a.repeats):
        for way in runs:
            r = subprocess.run([sys.executable, '-c', TRIAL, a.models, way], capture_output=True, text=True)
            if r.returncode: sys.exit(r.stderr[-2000:])
            runs[way].append(json.loads(r.stdout.strip().splitlines()[-1]))
    med = {w: {k: round(statistics.median(x[k] for x in v), 3) for k in ('import_s', 'load_s')} for w, v in runs.items()}
    res = {'models': a.models, 'repeats': a.repeats, 'median': med,
           'ratio_load': round(med['safetensors']['load_s'] / med['pkl']['load_s'], 3),
           'ratio_import_and_load': round(sum(med['safetensors'].values()) / sum(med['pkl'].values()), 3), 'target': '<= 1.2',
           'runs': {w: [{k: round(x[k], 3) for k in x} for x in v] for w, v in runs.items()}}
    print(json.dumps(res))

if __name__ == '__main__': main()
