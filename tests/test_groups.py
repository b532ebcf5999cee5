"Patients never straddle the split: `crl-uls train --group` (default: a `patient` column), `check-data`'s group counts."
import json
import pandas as pd
import pytest
from conftest import cli

@pytest.fixture(scope='module')
def patients(tmp_path_factory):
    "24 phantoms of 64 px, four images per patient (6 patients), the patient named in meta.csv."
    from crl_uls.phantom import write_phantoms
    d = tmp_path_factory.mktemp('patients')/'data'
    write_phantoms(d, 24, 64, seed=5, workers=1, progress=False)
    meta = pd.read_csv(d/'meta.csv', dtype={'id': str})
    meta['patient'] = [f'P{k // 4:02d}' for k in range(len(meta))]
    meta.to_csv(d/'meta.csv', index=False)
    return d, meta

def test_train_keeps_each_patient_on_one_side(patients, tmp_path):
    "By default the `patient` column groups the split (said in one line), and the manifest records it and the held-out ids."
    from crl_uls.data import assign_split, good_items
    d, meta = patients
    loose = assign_split(good_items(d, ('image', 'mask', 'points')), 0.2, 0)          # the same split without groups...
    assert loose.merge(meta[['id', 'patient']]).groupby('patient').is_valid.nunique().max() == 2   # ...cuts a patient: the test can fail
    r = cli('train', d, '--out', tmp_path/'m', '--preset', 'tiny', '--epochs', '1', '--set', 'quality.fold_epochs=1',
            '--calibration', '0', '--quiet')
    assert r.returncode == 0, r.stderr
    assert "keeping each patient's images on one side of the split (the patient column" in r.stderr, r.stderr
    man = json.loads((tmp_path/'m'/'manifest.json').read_text())['training_data']
    held = set(man['held_out_ids'])
    assert len(held) == man['valid_items'] > 0
    side = meta.assign(held=meta.id.isin(held)).groupby('patient').held.nunique()
    assert side.max() == 1, side                                        # no patient both trained on and held out
    assert man['group'] == {'column': 'patient', 'groups': 6, 'held_out_groups': len(held) // 4, 'without_group': 0}
    assert 'split by patient: 6 groups' in r.stdout, r.stdout

def test_a_group_column_that_is_not_there_is_one_line(patients, tmp_path):
    d, _ = patients
    r = cli('train', d, '--out', tmp_path/'m', '--preset', 'tiny', '--group', 'mother', '--quiet')
    assert r.returncode == 2 and r.stderr.strip().count('\n') == 0, r.stderr
    assert "no column 'mother'" in r.stderr and 'patient' in r.stderr and not (tmp_path/'m').exists(), r.stderr
    r = cli('check-data', d, '--group', 'mother')
    assert r.returncode == 2 and r.stderr.strip().count('\n') == 0 and "no column 'mother'" in r.stderr, r.stderr

def test_check_data_counts_patients_and_their_images(patients, tmp_path):
    d, meta = patients
    r = cli('check-data', d)
    assert r.returncode == 0, r.stderr
    assert '6 groups by patient' in r.stdout and 'min 4, median 4, max 4' in r.stdout, r.stdout
    import shutil
    m = meta.copy(); m.loc[4, 'patient'], m.loc[8, 'patient'] = 'P00', None       # P00 gets one more, P01 and P02 one less, one without
    shutil.copytree(d, tmp_path/'d'/'x'); m.to_csv(tmp_path/'d'/'x'/'meta.csv', index=False)
    g = json.loads(cli('check-data', tmp_path/'d'/'x', '--json').stdout)['groups']
    assert g == {'column': 'patient', 'groups': 6, 'min': 3, 'median': 4.0, 'max': 5, 'without_group': 1}, g
    g = json.loads(cli('check-data', tmp_path/'d'/'x', '--json', '--group', 'id').stdout)['groups']
    assert (g['groups'], g['max']) == (24, 1)
