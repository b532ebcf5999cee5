"""The rule "a fetus cut by the edge of the view is never accepted", measured on one model folder (research, not library).

    python study/learners/view_edge.py MODELS TRAIN TEST [TEST ...] > view_edge.json

The acceptance model is fitted as `train` fits it (on MODELS' held-out TRAIN items and its calibration phantoms,
remade from TRAIN's phantom.json), then each TEST set is judged twice with it: with the rule (the library) and
without it (p_ok alone at the threshold). Printed per set: accepted share, the accepted results' median |error| and
95% limits of agreement, and how many |CRL error| > 5 mm were not accepted; and how often the rule agrees with the
phantoms' own `in_fan` flag (the true fetus inside the fan).
"""
import sys, json, warnings, datetime, tempfile
warnings.filterwarnings('ignore')
import numpy as np, pandas as pd
from pathlib import Path
from crl_uls.pipeline import Pipeline, Acceptance
from crl_uls.data import good_items
from crl_uls.evaluate import limits_of_agreement
from crl_uls.train import _calibration_set
from acceptance_levers import measure           # the same results as that record's (this folder is on sys.path when run)

def main():
    models, train, tests = sys.argv[1], sys.argv[2], sys.argv[3:]
    pipe = Pipeline.load(models)
    man = json.loads((Path(models)/'manifest.json').read_text())
    held = set(man['training_data']['held_out_ids'])
    va = good_items(train, ('image', 'mask', 'points')); va = va[va.id.isin(held)]
    with tempfile.TemporaryDirectory() as tmp:
        cal, rec = _calibration_set(train, tmp, man['acceptance_fit']['calibration']['phantoms'], man['seed'])
        fit = pd.concat([measure(pipe, va), measure(pipe, cal)], ignore_index=True)
    acc = Acceptance.fit(fit.sig.tolist(), fit.ok.tolist())
    out = {'models': models, 'fit_on': {'held_out': len(va), 'calibration': rec, 'with_crl': len(fit), **acc.fit_info},
           'machine': '2-core development machine, no GPU', 'created': str(datetime.date.today()), 'sets': {}}
    for t in tests:
        d = measure(pipe, good_items(t, ('image', 'mask', 'points')))
        meta = pd.read_csv(Path(t)/'meta.csv').set_index('id')
        p = np.array([acc.p_ok(s) for s in d.sig]); cut = d.cut.to_numpy()
        big = d.err.abs().to_numpy() > 5; in_fan = meta.loc[d.id, 'in_fan'].to_numpy(bool)
        s = {'with_crl': len(d), 'large_errors': int(big.sum()), 'cut_by_view': int(cut.sum()),
             'cut_and_large': int((cut & big).sum()), 'truth_not_in_fan': int((~in_fan).sum()), 'cut_and_not_in_fan': int((cut & ~in_fan).sum())}
        for name, a in (('with_rule', (p >= acc.threshold) & ~cut), ('without_rule', p >= acc.threshold)):
            b, h = limits_of_agreement(d.err[a])
            s[name] = {'accepted_share': round(float(a.mean()), 3), 'median_abs_err_accepted_mm': round(float(d.err[a].abs().median()), 2),
                       'loa_bias_mm': round(float(b), 2), 'loa_half_mm': round(float(h), 2), 'large_not_accepted': int((big & ~a).sum())}
        out['sets'][t] = s
    print(json.dumps(out, indent=1))

if __name__ == '__main__': main()
