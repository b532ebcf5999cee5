"The installed `crl-uls` console script, end to end, as a user runs it."
import json
import pytest
from conftest import venv_tool, run

@pytest.fixture(scope='module')
def crl_uls(): return venv_tool('crl-uls')

def test_ga_json_keys_and_values(crl_uls):
    r = run(crl_uls, 'ga', '60', '--json')
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert {'crl_mm', 'ga_days', 'ga', 'formula', 'in_range'} <= set(d)
    # 40.9041 + 3.21585*sqrt(60) + 0.348956*60 = 86.7513 days, by hand
    assert abs(d['ga_days'] - 86.7513) < 0.01
    assert (d['crl_mm'], d['ga'], d['formula'], d['in_range']) == (60.0, '12w3d', 'intergrowth', True)
    assert d['ga_low_days'] < d['ga_days'] < d['ga_high_days']

@pytest.mark.parametrize('formula, crl, expected', [('intergrowth', '84', 99.6902), ('robinson', '10', 49.1927),
                                                     ('hadlock', '45', 79.2922)])
def test_ga_each_formula(crl_uls, formula, crl, expected):
    r = run(crl_uls, 'ga', crl, '--formula', formula, '--json')
    assert r.returncode == 0, r.stderr
    assert abs(json.loads(r.stdout)['ga_days'] - expected) < 0.01

def test_ga_text_out_of_range_is_flagged(crl_uls):
    r = run(crl_uls, 'ga', '10')
    assert r.returncode == 0
    assert 'OUT OF RANGE' in r.stdout and '15–95 mm' in r.stdout
    assert 'warning' in r.stderr

def test_ga_due_date(crl_uls):
    r = run(crl_uls, 'ga', '45', '--scan-date', '2026-01-01')
    assert r.returncode == 0 and 'estimated due date: 2026-07-22' in r.stdout

@pytest.mark.parametrize('bad', ['abc', '-3', '0', 'nan', 'inf'])
def test_ga_bad_input_is_one_clear_line(crl_uls, bad):
    r = run(crl_uls, 'ga', bad)
    assert r.returncode == 2
    assert 'crl-uls ga: error:' in r.stderr and 'Traceback' not in r.stderr
    assert r.stdout == ''

def test_help_and_version(crl_uls):
    r = run(crl_uls, '--help')
    assert r.returncode == 0 and 'ga' in r.stdout
    r = run(crl_uls, '--version')
    assert r.returncode == 0 and r.stdout.startswith('crl-uls ')
    r = run(crl_uls)
    assert r.returncode == 2

def test_synth_writes_a_dataset_and_is_reproducible(crl_uls, tmp_path):
    a, b = tmp_path/'a', tmp_path/'b'
    for out in (a, b):
        r = run(crl_uls, 'synth', str(out), '--n', '4', '--size', '128x96', '--seed', '3', '--quiet')
        assert r.returncode == 0, r.stderr
    assert 'wrote 4 phantoms of 128x96 px' in r.stdout
    files = sorted(p.relative_to(a) for p in a.rglob('*') if p.is_file())
    assert len(files) == 4*4 + 2 and {a/'meta.csv', a/'phantom.json'} <= {a/f for f in files}     # and how they were drawn (calibration sets)
    assert all((a/f).read_bytes() == (b/f).read_bytes() for f in files)
    header = (a/'meta.csv').read_text().splitlines()[0].split(',')
    assert header[:8] == ['id', 'mm_per_px', 'crl_mm', 'ga_days', 'crown_x', 'crown_y', 'rump_x', 'rump_y']

@pytest.mark.parametrize('bad', [['--n', '0'], ['--n', '2', '--size', '8'], ['--n', '2', '--size', 'huge']])
def test_synth_bad_arguments(crl_uls, tmp_path, bad):
    r = run(crl_uls, 'synth', str(tmp_path/'x'), *bad)
    assert r.returncode == 2 and 'crl-uls synth: error:' in r.stderr and 'Traceback' not in r.stderr

def test_check_data_exit_status(crl_uls, tmp_path):
    import shutil
    from crl_uls.data import sample_path
    r = run(crl_uls, 'check-data', str(sample_path()))
    assert r.returncode == 0 and '0 errors' in r.stdout, r.stdout + r.stderr
    bad = tmp_path/'bad'; shutil.copytree(sample_path(), bad)
    (bad/'masks'/'phantom_00000.png').unlink()
    shutil.copy(bad/'masks'/'phantom_00004.png', bad/'masks'/'phantom_00000.png')     # a mask from another image
    (bad/'annotations'/'phantom_00005.json').write_text('{"shapes": []}')
    r = run(crl_uls, 'check-data', str(bad), '--json')
    assert r.returncode == 1
    res = json.loads(r.stdout)
    assert res['by_fault'] == {'bad_annotation': 1}, res          # same size, so only the annotation is an error
    assert res['faults'][0]['id'] == 'phantom_00005'

def test_check_data_refuses_what_is_not_a_data_set(crl_uls, tmp_path):
    from crl_uls.data import sample_path
    import shutil
    for f in (sample_path()/'images').glob('*.png'): shutil.copy(f, tmp_path)
    r = run(crl_uls, 'check-data', str(tmp_path))
    assert r.returncode == 2 and 'not a data set' in r.stderr and 'put them in' in r.stderr, r.stdout + r.stderr
    (tmp_path/'empty'/'images').mkdir(parents=True)
    r = run(crl_uls, 'check-data', str(tmp_path/'empty'))
    assert r.returncode == 2 and 'empty data set' in r.stderr, r.stdout + r.stderr

def test_check_data_reports_a_deleted_mask(crl_uls, tmp_path):
    import shutil
    from crl_uls.data import sample_path
    bad = tmp_path/'bad'; shutil.copytree(sample_path(), bad)
    (bad/'masks'/'phantom_00004.png').unlink()
    r = run(crl_uls, 'check-data', str(bad), '--json')
    res = json.loads(r.stdout)
    assert r.returncode == 1 and res['by_fault'] == {'missing_mask': 1} and res['faults'][0]['id'] == 'phantom_00004', res

def test_no_progress_bar_redraws_in_a_log(crl_uls, tmp_path):
    "Output that is not a terminal (a pipe, a CI log) gets no progress-bar redraws."
    r = run(crl_uls, 'synth', str(tmp_path/'p'), '--n', '3', '--size', '32', '--workers', '1')
    assert r.returncode == 0 and '\r' not in r.stderr and '\r' not in r.stdout, repr(r.stderr[:300])

def test_ga_help_and_exit_status(crl_uls):
    r = run(crl_uls, 'ga', '--help')
    text = ' '.join(r.stdout.split())
    assert '95% interval' in text and '%%' not in text
    assert "exit status: 0 when an age is printed, also for a CRL outside the formula's range" in text
    r = run(crl_uls, 'ga', '200')
    assert r.returncode == 0 and 'OUT OF RANGE' in r.stdout and 'warning' in r.stderr
    r = run(crl_uls, 'predict', '--help')
    assert "a CRL outside the formula's range among them, do not change it" in ' '.join(r.stdout.split())
    r = run(crl_uls, 'ga', '-5')
    assert r.returncode == 2 and r.stderr.strip().endswith('got -5.0'), r.stderr

def test_demo_end_to_end_with_tiny_learners(tmp_path, capsys):
    """`crl-uls demo` runs through all four steps on the classic phantom and prints its table even when weak learners
    report no CRL for some or all images (a column of None once broke the table)."""
    import pandas as pd
    from crl_uls.cli import main
    code = main(['demo', '--out', str(tmp_path/'d'), '--preset', 'tiny', '--n-train', '24', '--n-test', '4', '--quiet'])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    assert all(f'phantom_0000{i}' in out for i in range(4)) and 'demo finished' in out, out[-1500:]
    assert 'too few to tell right results from wrong' in out, out[-1500:]       # 24 phantoms hold out too few to fit acceptance
    assert len(pd.read_csv(tmp_path/'d'/'results.csv')) == 4
    meta = pd.read_csv(tmp_path/'d'/'train'/'meta.csv')
    assert meta.features.isna().all() and (meta.domain == 'train').all()          # the classic phantom
