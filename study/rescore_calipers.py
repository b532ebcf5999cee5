#!/usr/bin/env python3
"""Re-score an evaluation made before `auto` calipers became the outline's extremes.

    python study/rescore_calipers.py study/evaluation/results.csv

Until commit 330b1cc the default calipers (`--points auto`) were the landmark model's own points
wherever they were plausible but disagreed with the outline's extremes; now they are the outline's
extremes wherever a CRL is given. An evaluation's results.csv holds, per image, the error of both
(`geometric_crl_err_mm`, `learned_crl_err_mm`), measured on the same masks with the same naming of
crown and rump, so the CRL figures of the current rule follow exactly from it. Two acceptance
decisions are scored: the run's own (its p_ok, from the acceptance model fitted on the earlier
rule's outcomes), and a refit of the acceptance model on these images' outcomes under the current
rule, estimated by 5-fold cross-validation (each image judged by a model fitted on the other four
fifths). Prints the summaries side by side.
"""
import json, sys
import numpy as np, pandas as pd
from crl_uls.biometry import crl_within_tolerance, ga_from_crl
from crl_uls.evaluate import summarize
from crl_uls.pipeline import Acceptance, SIGNALS

def rescore(res:pd.DataFrame) -> pd.DataFrame:
    "The per-image results with the outline's extremes as calipers wherever a CRL was given."
    r = res.copy()
    given = r.points.isin(['geometric', 'learned'])
    err = r.geometric_crl_err_mm.where(given)
    r['crl_err_mm'], r['crl_mm'] = err, r.true_crl_mm + err
    r['crl_err_pct'] = 100 * err / r.true_crl_mm
    r['ga_err_days'] = pd.Series(np.asarray(ga_from_crl(r.crl_mm.fillna(1.0).clip(lower=1e-3), out_of_range='ignore')), index=r.index).where(given) - r.true_ga_days
    r['within_tolerance'] = np.asarray(crl_within_tolerance(r.crl_mm, r.true_crl_mm))
    r['crown_err_mm'] = r.rump_err_mm = np.nan            # not in the CSV for the extremes: left out of the summary
    return r

def cross_fitted_p_ok(r:pd.DataFrame, folds:int=5, seed:int=0) -> pd.Series:
    "p_ok of each image from an acceptance model fitted on the other folds' outcomes (images without a CRL: 0)."
    sig = r.rename(columns={'quality_prob': 'p_good'})[list(SIGNALS)].to_dict('records')
    given = r.crl_mm.notna().to_numpy()
    fold = np.random.default_rng(seed).permutation(len(r)) % folds
    p = np.zeros(len(r))
    for f in range(folds):
        train = given & (fold != f)
        a = Acceptance.fit([sig[i] for i in np.flatnonzero(train)], r.within_tolerance.to_numpy()[train])
        for i in np.flatnonzero(given & (fold == f)): p[i] = a.p_ok(sig[i])
    return pd.Series(p, index=r.index)

if __name__ == '__main__':
    res = pd.read_csv(sys.argv[1] if len(sys.argv) > 1 else 'study/evaluation/results.csv')
    now = rescore(res)
    refit = now.assign(p_ok=cross_fitted_p_ok(now)); refit['accepted'] = refit.p_ok >= 0.5
    keys = ['images', 'with_crl', 'accepted', 'accepted_share', 'within_tolerance', 'median_abs_crl_err_mm', 'median_abs_ga_err_days',
            'crl_bias_mm', 'crl_loa_half_mm', 'crl_loa_half_pct', 'accepted_crl_bias_mm', 'accepted_crl_loa_half_mm',
            'accepted_crl_loa_half_pct', 'large_errors', 'large_errors_not_accepted', 'accepted_balanced_accuracy',
            'good_bad_balanced_accuracy', 'dice_mean', 'dice_p01']
    table = pd.DataFrame({'as run (earlier auto)': summarize(res), 'outline extremes, the run\'s acceptance': summarize(now),
                          'outline extremes, acceptance refit (5-fold)': summarize(refit)}).loc[keys]
    with pd.option_context('display.width', 200, 'display.float_format', '{:.3f}'.format): print(table.to_string())
    print(json.dumps({'signal_coefficients_refit_on_all': dict(zip(SIGNALS, np.round(Acceptance.fit(
        now.rename(columns={'quality_prob': 'p_good'})[list(SIGNALS)][now.crl_mm.notna()].to_dict('records'),
        now.within_tolerance[now.crl_mm.notna()]).coef, 3).tolist()))}))
