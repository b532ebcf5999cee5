"""Screen: candidate signals that a segmentation misses part of the fetus, against an |CRL error| over 5 mm (research, not library).

    python study/learners/tail_signals.py MODELS TEST OUT.csv

Each phantom the pipeline measures gives the pipeline's own signals and six candidate ones computed from the image, the
U-Net's probability map (mirrored pass averaged in) and the mask: the U-Net's probability and the brightness just beyond
each outline end, the probability mass outside the mask, and the mask's width and area against its length. Printed: each
signal's ROC AUC for a large error on TEST. A screen on the test phantoms: no model is fitted on them, and a signal that
screens well still has to earn its place in the acceptance model fitted at training.
"""
import sys, math, json, warnings
warnings.filterwarnings('ignore')
import numpy as np, pandas as pd, cv2
from sklearn.metrics import roc_auc_score
from crl_uls.pipeline import Pipeline, SIGNALS
from crl_uls.data import good_items
from crl_uls.learners import read_item_image, outline_ends
from crl_uls.segmentation import predict_probs

models, test, out = sys.argv[1], sys.argv[2], sys.argv[3]
pipe = Pipeline.load(models)
items = good_items(test, ('image', 'mask', 'points'))
def region_mean(a, e, u, n, s0, s1, half, L):
    "mean of `a` over the rectangle e + u*s + n*t, s in [s0, s1]*L, |t| <= half*L (sampled)"
    ss, ts = np.linspace(s0 * L, s1 * L, 12), np.linspace(-half * L, half * L, 9)
    P = e[None, None] + u[None, None] * ss[:, None, None] + n[None, None] * ts[None, :, None]
    x, y = P[..., 0].round().astype(int), P[..., 1].round().astype(int)
    ok = (x >= 0) & (y >= 0) & (x < a.shape[1]) & (y < a.shape[0])
    return float(a[y[ok], x[ok]].mean()) if ok.any() else 0.0
rows = []
for r in items.to_dict('records'):
    img = read_item_image(r); m = pipe.predict(img, mm_per_px=r['mm_per_px'])
    if m.mask is None or not (m.mask > 0).any() or math.isnan(m.crl_mm): continue
    p = (predict_probs(pipe.seg, [img])[0] + predict_probs(pipe.seg, [img], flip=True)[0]) / 2
    mk = m.mask > 0; a, b = outline_ends(mk.astype(np.uint8)); L = max(np.linalg.norm(b - a), 1.0)
    f = {}
    inside_b = img[mk].mean() + 1e-6
    ep, eb, ebi = [], [], []
    for e, o in ((a, b), (b, a)):
        u = (e - o) / L; n = np.array([-u[1], u[0]])
        ep.append(region_mean(p, e, u, n, 0.0, 0.3, 0.15, L))
        out_b = region_mean(img.astype(float), e, u, n, 0.02, 0.3, 0.15, L); in_b = region_mean(img.astype(float) * mk, e, u, n, -0.25, -0.02, 0.15, L)
        eb.append(out_b / inside_b); ebi.append(out_b / (in_b + 1e-6))
    f['end_prob_max'], f['end_bright_max'], f['end_bright_local_max'] = max(ep), max(eb), max(ebi)
    f['soft_outside'] = float(p[~mk & (p > 0.1)].sum() / mk.sum())
    ys, xs = np.nonzero(mk); P = np.stack([xs, ys], 1) - a; u = (b - a) / L; nn = np.array([-u[1], u[0]])
    f['width_over_len'] = float(np.ptp(P @ nn) / L); f['area_over_len2'] = float(mk.sum() / L ** 2)
    rows.append(dict(id=r['id'], err=m.crl_mm - r['crl_mm'], p_ok=m.p_ok, accepted=m.accepted, **{k: m.signals.get(k) for k in SIGNALS}, **f))
d = pd.DataFrame(rows); d.to_csv(out, index=False)
big = d.err.abs() > 5
print(len(d), 'large', int(big.sum()), 'accepted large', int((big & d.accepted).sum()))
for k in [c for c in d.columns if c not in ('id', 'err', 'accepted')]:
    v = d[k].astype(float).fillna(d[k].astype(float).median())
    if big.any() and (~big).any(): print(f'{k:22s} AUC(large) {roc_auc_score(big, v):.3f}  large: {np.round(v[big].to_numpy(), 3).tolist()[:12]}  others median {v[~big].median():.3f}')
