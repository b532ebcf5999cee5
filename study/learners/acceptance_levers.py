"""Levers for the acceptance model, on one trained model folder (research, not library).

    python study/learners/acceptance_levers.py MODELS TRAIN MORE_CAL TEST [TEST ...] > acceptance_levers.json

The pipeline measures MODELS' held-out TRAIN items, its calibration phantoms (remade from TRAIN's phantom.json, as
`train` makes them), MORE_CAL (more phantoms of the same kind, another seed) and each TEST set. Three candidate
signals are added to the segmentation's own, from the U-Net's probability map and mask: the mask's width across
its crown-rump axis over its length (`width`), the probability mass outside the mask (`soft_out`) and the U-Net's
mean probability just beyond the outline's ends (`end_prob`). Each variant fits `Acceptance` on the held-out items
and the calibration phantoms and is scored on each TEST set, with the view-edge rule applied throughout: accepted
share, the accepted results' median |error| and 95% limits of agreement, |error| > 5 mm not accepted.
"""
import sys, json, datetime, tempfile, warnings
warnings.filterwarnings('ignore')
import numpy as np, pandas as pd, cv2
from pathlib import Path
import crl_uls.segmentation as seg_mod
from crl_uls.pipeline import Pipeline, Acceptance, FIT_SIGNALS
from crl_uls.data import good_items
from crl_uls.learners import read_item_image, outline_ends
from crl_uls.quality import view_area
from crl_uls.biometry import crl_px, crl_within_tolerance
from crl_uls.evaluate import limits_of_agreement
from crl_uls.train import _calibration_set

_own = seg_mod.mask_signals
def _beyond(prob, e, u, L):
    "mean of `prob` over the strip beyond the end `e` (direction `u`): 0-30% of the length out, 30% of it wide"
    n = np.array([-u[1], u[0]]); ss, ts = np.linspace(0, 0.3 * L, 12), np.linspace(-0.15 * L, 0.15 * L, 9)
    P = e + u * ss[:, None, None] + n * ts[None, :, None]
    x, y = P[..., 0].round().astype(int), P[..., 1].round().astype(int)
    ok = (x >= 0) & (y >= 0) & (x < prob.shape[1]) & (y < prob.shape[0])
    return float(prob[y[ok], x[ok]].mean()) if ok.any() else 0.0
def with_candidates(prob, mask):
    s = _own(prob, mask); m = np.asarray(mask) > 0
    if not m.any(): return {**s, 'width': np.nan, 'soft_out': np.nan, 'end_prob': np.nan}
    a, b = outline_ends(m.astype(np.uint8)); L = max(float(np.linalg.norm(b - a)), 1.0); u = (b - a) / L
    ys, xs = np.nonzero(m); n = np.array([-u[1], u[0]])
    return {**s, 'width': float(np.ptp((np.stack([xs, ys], 1) - a) @ n) / L),
            'soft_out': float(prob[~m & (prob > 0.1)].sum() / m.sum()), 'end_prob': max(_beyond(prob, a, -u, L), _beyond(prob, b, u, L))}

def view_margin(mask, image):
    "How far the mask keeps from the edge of the view (`view_area`; the image's border counts as edge): px, over the image's shorter side."
    v = view_area(image).astype(np.uint8); v[[0, -1], :] = 0; v[:, [0, -1]] = 0
    return float(cv2.distanceTransform(v, cv2.DIST_L2, 3)[np.asarray(mask) > 0].min() / min(v.shape))

def measure(pipe, items):
    "The pipeline's results with a CRL: id, CRL error (mm), within tolerance, cut by the view's edge, signals, margin to the view's edge."
    recs = items.to_dict('records')
    imgs = [read_item_image(r) for r in recs]
    res = pipe.measure_batch([(str(r['id']), im, float(r['mm_per_px'])) for r, im in zip(recs, imgs)])
    rows = []
    for m, r, im in zip(res, recs, imgs):
        if m.crown is None: continue
        true = crl_px((r['crown_x'], r['crown_y']), (r['rump_x'], r['rump_y'])) * r['mm_per_px']
        rows.append(dict(id=r['id'], err=m.crl_mm - true, ok=bool(crl_within_tolerance(m.crl_mm, true)), cut=m.signals.get('edge') == 1, sig=m.signals,
                         margin=view_margin(m.mask, im)))
    return pd.DataFrame(rows)

def score(acc, d, threshold):
    p = np.array([acc.p_ok(s) for s in d.sig]); a = (p >= threshold) & ~d.cut.to_numpy(); big = d.err.abs().to_numpy() > 5
    b, h = limits_of_agreement(d.err[a])
    return {'accepted_share': round(float(a.mean()), 3), 'median_abs_err_accepted_mm': round(float(d.err[a].abs().median()), 2),
            'loa_half_mm': round(float(h), 2), 'large_not_accepted': f'{int((big & ~a).sum())} of {int(big.sum())}'}

if __name__ == '__main__':
    models, train, more, tests = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    seg_mod.mask_signals = with_candidates                 # the pipeline imports it when it measures
    pipe = Pipeline.load(models); man = json.loads((Path(models)/'manifest.json').read_text())
    va = good_items(train, ('image', 'mask', 'points')); va = va[va.id.isin(set(man['training_data']['held_out_ids']))]
    with tempfile.TemporaryDirectory() as tmp:
        cal, _ = _calibration_set(train, tmp, man['acceptance_fit']['calibration']['phantoms'], man['seed'])
        fit = pd.concat([measure(pipe, va), measure(pipe, cal)], ignore_index=True)
    extra = measure(pipe, good_items(more, ('image', 'points')))
    sets = {t: measure(pipe, good_items(t, ('image', 'mask', 'points'))) for t in tests}
    F = tuple(FIT_SIGNALS)
    variants = [('the library: FIT_SIGNALS, within tolerance, threshold 0.5', F, fit, 'ok', 0.5),
                ('+ width', F + ('width',), fit, 'ok', 0.5),
                ('+ width, soft_out, end_prob', F + ('width', 'soft_out', 'end_prob'), fit, 'ok', 0.5),
                ('label |error| <= 5 mm', F, fit, 5.0, 0.5),
                (f'fitted also on {len(extra)} more calibration phantoms', F, pd.concat([fit, extra], ignore_index=True), 'ok', 0.5),
                ('operating point 0.6', F, fit, 'ok', 0.6), ('operating point 0.7', F, fit, 'ok', 0.7)]
    out = {'models': models, 'fit_on': len(fit), 'more_calibration': more, 'machine': '2-core development machine, no GPU',
           'created': str(datetime.date.today()), 'variants': []}
    for name, feats, data, label, thr in variants:
        y = data.ok if label == 'ok' else data.err.abs() <= label
        acc = Acceptance.fit(data.sig.tolist(), y.tolist(), features=feats)
        out['variants'].append({'variant': name, **{t: score(acc, d, thr) for t, d in sets.items()}})
    print(json.dumps(out, indent=1))
