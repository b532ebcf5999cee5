"An operating point of the site's choosing: `--threshold P` for predict, evaluate and app, and evaluate's risk-coverage table."
import csv, json
import numpy as np, pandas as pd
import pytest
from conftest import cli

@pytest.mark.parametrize('cmd', ['predict', 'evaluate', 'app'])
@pytest.mark.parametrize('bad', ['1.5', '-0.1', 'nan'])
def test_a_threshold_outside_0_to_1_is_one_line(tiny_models, tmp_path, cmd, bad):
    more = {'predict': [str(tmp_path/'x.png')], 'evaluate': [str(tmp_path)], 'app': []}[cmd]
    r = cli(cmd, tiny_models, *more, '--threshold', bad)
    assert r.returncode == 2 and r.stderr.strip().count('\n') == 0, r.stderr
    assert f'crl-uls {cmd}: error: --threshold must be a number from 0 to 1' in r.stderr, r.stderr

def test_predict_records_the_threshold_and_leaves_the_folder_alone(tiny_models, found, tmp_path):
    "The row says which threshold judged it: the folder's by default, --threshold's when given; acceptance.json and the manifest stay as they were."
    from crl_uls.data import write_png
    from crl_uls.pipeline import Acceptance, verify_models
    before = {n: (tiny_models/n).read_bytes() for n in ('acceptance.json', 'manifest.json')}
    f = write_png(tmp_path/'found.png', found.image)
    rows = {}
    for k, extra in (('own', []), ('lax', ['--threshold', '0']), ('strict', ['--threshold', '1'])):
        r = cli('predict', tiny_models, f, '--mm-per-px', found.mm_per_px, '--points', 'geometric', '--out', tmp_path/f'{k}.csv', '--quiet', *extra)
        assert r.returncode == 0, r.stderr
        rows[k] = next(csv.DictReader(open(tmp_path/f'{k}.csv')))
    own = Acceptance.load(tiny_models).threshold
    assert float(rows['own']['threshold']) == pytest.approx(own, abs=1e-4)
    assert (rows['lax']['threshold'], rows['lax']['accepted']) == ('0.0', 'True')       # a CRL, and everything is accepted
    assert rows['strict']['threshold'] == '1.0' and rows['strict']['accepted'] == str(float(rows['strict']['p_ok']) >= 1)
    assert rows['lax']['p_ok'] == rows['own']['p_ok'] == rows['strict']['p_ok']          # the same p_ok, another decision
    assert 'accepted at p_ok >= 0.00 (--threshold)' in r.stderr or 'accepted at p_ok >= 1.00 (--threshold)' in r.stderr, r.stderr
    assert {n: (tiny_models/n).read_bytes() for n in before} == before
    verify_models(tiny_models)                                                          # still vouched for by its manifest

def test_evaluate_prints_and_writes_the_risk_coverage_table(tiny_models, tmp_path):
    "Each row of risk_coverage.csv is what results.csv gives at that threshold; --threshold 0 accepts every result with a CRL."
    from crl_uls.phantom import write_phantoms
    from crl_uls.pipeline import Acceptance
    write_phantoms(tmp_path/'set', 8, 64, seed=41, workers=1, progress=False)
    r = cli('evaluate', tiny_models, tmp_path/'set', '--out', tmp_path/'rep', '--points', 'geometric', '--quiet')
    assert r.returncode == 0, r.stderr
    own = Acceptance.load(tiny_models).threshold
    assert 'risk-coverage (choose an operating point with --threshold' in r.stdout and f'{own:.2f} *' in r.stdout, r.stdout
    res, rc = pd.read_csv(tmp_path/'rep'/'results.csv'), pd.read_csv(tmp_path/'rep'/'risk_coverage.csv')
    assert {0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9} <= set(rc.threshold) and rc.used.sum() == 1
    assert rc[rc.used].threshold.iloc[0] == pytest.approx(own, abs=1e-4)
    assert int(rc[rc.used].accepted.iloc[0]) == int(res.accepted.sum())               # the row of the threshold used is the summary's
    for row in rc.itertuples():                                                        # every row, recomputed from the per-image results
        acc = res.crl_mm.notna() & (res.p_ok >= row.threshold)
        e = res.crl_err_mm[acc].to_numpy()
        assert row.accepted == acc.sum() and row.accepted_share == pytest.approx(acc.mean())
        assert row.large_errors_accepted == int((np.abs(e) > 5).sum())
        if len(e) > 1: assert (row.bias_mm, row.loa_half_mm) == pytest.approx((e.mean(), 1.96 * e.std(ddof=1)))
        else: assert np.isnan(row.bias_mm)
    assert json.loads((tmp_path/'rep'/'summary.json').read_text())['threshold'] == pytest.approx(own)
    r = cli('evaluate', tiny_models, tmp_path/'set', '--out', tmp_path/'rep0', '--points', 'geometric', '--quiet', '--threshold', '0')
    assert r.returncode == 0, r.stderr
    s, res0 = json.loads((tmp_path/'rep0'/'summary.json').read_text()), pd.read_csv(tmp_path/'rep0'/'results.csv')
    assert s['threshold'] == 0 and (res0.threshold == 0).all()
    can = res0.crl_mm.notna() & (res0.edge != 1)          # everything with a CRL but a fetus cut by the edge of the view (a rule)
    assert (res0.accepted == can).all() and can.any()
    assert s['accepted'] == int(can.sum()) and 'accepted' in r.stdout and 'at p_ok >= 0.00' in r.stdout, r.stdout
    assert '0.00 *' in r.stdout and 'given by --threshold' in r.stdout, r.stdout
