"""A wider margin for "whole fetus in view", and the margin as a signal, on one model folder (research, not library).

    python study/learners/edge_margin.py MODELS TRAIN TEST [TEST ...] > edge_margin.json

The U-Net often stops a few pixels short of the fan's edge where the true fetus runs out of it, so the library's rule
(the mask within max(2, side/128) px of the view's edge: never accepted) misses some cut fetuses. Here the acceptance
model is fitted as `train` fits it (MODELS' held-out TRAIN items and its calibration phantoms), and each TEST set is
judged with the rule widened to a margin of M px per 256 px of the image's shorter side (nothing closer accepted),
and with the margin, -log(max(margin, 0.005)), as one more signal of the fitted model (the rule as the library has it).
Printed per set and variant: accepted share, the accepted results' median |error| and 95% limits of agreement, and
how many |CRL error| > 5 mm were not accepted (`acceptance_levers.score`).
"""
import sys, json, warnings, datetime, tempfile
warnings.filterwarnings('ignore')
import numpy as np, pandas as pd
from pathlib import Path
from crl_uls.pipeline import Pipeline, Acceptance, FIT_SIGNALS
from crl_uls.data import good_items
from crl_uls.train import _calibration_set
from acceptance_levers import measure, score      # this folder is on sys.path when run

def main():
    models, train, tests = sys.argv[1], sys.argv[2], sys.argv[3:]
    pipe = Pipeline.load(models); man = json.loads((Path(models)/'manifest.json').read_text())
    va = good_items(train, ('image', 'mask', 'points')); va = va[va.id.isin(set(man['training_data']['held_out_ids']))]
    with tempfile.TemporaryDirectory() as tmp:
        cal, _ = _calibration_set(train, tmp, man['acceptance_fit']['calibration']['phantoms'], man['seed'])
        fit = pd.concat([measure(pipe, va), measure(pipe, cal)], ignore_index=True)
    sets = {t: measure(pipe, good_items(t, ('image', 'mask', 'points'))) for t in tests}
    near = lambda d: [{**s, 'near': float(-np.log(max(g, 0.005)))} for s, g in zip(d.sig, d.margin)]
    lib = Acceptance.fit(fit.sig.tolist(), fit.ok.tolist())
    out = {'models': models, 'fit_on': len(fit), 'machine': '2-core development machine, no GPU', 'created': str(datetime.date.today()), 'variants': []}
    for px in (0, 3, 4, 6, 8, 10):                     # 0: the library's rule alone
        v = {'variant': f'margin {px} px per 256' if px else 'the library (rule: max(2, side/128) px)'}
        for t, d in sets.items():
            v[t] = score(lib, d.assign(cut=d.cut | (d.margin < px / 256)), 0.5)
        out['variants'].append(v)
    acc = Acceptance.fit(near(fit), fit.ok.tolist(), features=tuple(FIT_SIGNALS) + ('near',))
    out['variants'].append({'variant': 'the margin as a signal (-log margin)', **{t: score(acc, d.assign(sig=near(d)), 0.5) for t, d in sets.items()}})
    print(json.dumps(out, indent=1))

if __name__ == '__main__': main()
