"`crl-uls predict` and the pipeline on real files: error rows, outputs, trust, determinism."
import csv, json, shutil
import numpy as np
import pytest
from conftest import venv_tool, run, train_tiny

@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    "Three phantom PNGs, a DICOM with spacing, and three bad files: a corrupt PNG, an unreadable DICOM and a text file."
    from crl_uls.phantom import make_phantom
    from crl_uls.data import write_png, write_dicom
    d = tmp_path_factory.mktemp('inputs')
    ps = [make_phantom(seed=77, index=i, size=(96, 80)) for i in range(4)]
    for i, p in enumerate(ps[:3]): write_png(d/f'ok_{i}.png', p.image)
    write_dicom(d/'ok_3.dcm', ps[3].image, ps[3].mm_per_px)
    (d/'corrupt.png').write_bytes((d/'ok_0.png').read_bytes()[:120])
    (d/'broken.dcm').write_bytes(b'\0' * 128 + b'DICM' + b'\x02\x00\x10\x00garbage')
    (d/'readme.txt').write_text('not an image\n')
    return d, ps

def test_predict_writes_error_rows_and_goes_on(tiny_models, inputs, tmp_path):
    d, ps = inputs
    out = tmp_path/'r.csv'
    r = run(venv_tool('crl-uls'), 'predict', str(tiny_models), str(d), '--out', str(out), '--masks', str(tmp_path/'masks'),
            '--overlays', str(tmp_path/'ov'), '--labelme', str(tmp_path/'lm'), '--quiet')
    assert r.returncode == 1, r.stderr            # some inputs failed
    assert 'Traceback' not in r.stderr and 'measured 4 of 7 inputs, 3 failed' in r.stderr
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 7
    need = ['path', 'crown_x', 'crown_y', 'rump_x', 'rump_y', 'crl_px', 'mm_per_px', 'crl_mm', 'ga_days', 'ga', 'quality',
            'quality_prob', 'warnings', 'error']
    assert set(need) <= set(rows[0])
    errors = {r['path'].rsplit('/', 1)[-1]: r['error'] for r in rows if r['error']}
    assert sorted(errors) == ['broken.dcm', 'corrupt.png', 'readme.txt']
    assert all(name in msg for name, msg in errors.items())
    good = [r for r in rows if not r['error']]
    assert all(r['quality'] in ('good', 'bad') for r in good)
    dcm = next(r for r in good if r['path'].endswith('ok_3.dcm'))
    assert abs(float(dcm['mm_per_px']) - ps[3].mm_per_px) < 1e-6       # spacing read from the DICOM file
    from crl_uls.data import read_mask
    m = read_mask(tmp_path/'masks'/'ok_0.png')
    assert m.shape == (80, 96) and set(np.unique(m)) <= {0, 255}
    assert (tmp_path/'ov'/'ok_3.png').exists()

def test_predict_json_and_spacing_argument(tiny_models, inputs):
    d, ps = inputs
    r = run(venv_tool('crl-uls'), 'predict', str(tiny_models), str(d/'ok_0.png'), '--mm-per-px', '0.3', '--json', '--quiet')
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout.strip().splitlines()[-1])
    assert row['mm_per_px'] == 0.3 and row['error'] is None
    if row['crl_px'] is not None: assert abs(row['crl_mm'] - 0.3 * row['crl_px']) < 0.02
    bad = run(venv_tool('crl-uls'), 'predict', str(tiny_models), str(d/'ok_0.png'), '--mm-per-px', '-1')
    assert bad.returncode == 2 and 'mm_per_px must be finite' in bad.stderr

def test_changed_model_file_is_refused(tiny_models, inputs, tmp_path):
    d, _ = inputs
    m = tmp_path/'models'; shutil.copytree(tiny_models, m)
    b = bytearray((m/'segmentation.pkl').read_bytes()); b[len(b) // 2] ^= 1; (m/'segmentation.pkl').write_bytes(bytes(b))
    r = run(venv_tool('crl-uls'), 'predict', str(m), str(d/'ok_0.png'), '--quiet')
    assert r.returncode == 2 and 'segmentation.pkl does not match its sha256' in r.stderr and 'Traceback' not in r.stderr
    (m/'manifest.json').unlink()
    r = run(venv_tool('crl-uls'), 'predict', str(m), str(d/'ok_0.png'), '--quiet')
    assert r.returncode == 2 and 'no manifest.json' in r.stderr

def test_same_seed_same_metrics(tmp_path):
    "Quick-mode training on the CPU is deterministic: the same seed gives the same validation figures."
    a, b = train_tiny(tmp_path/'a', seed=3), train_tiny(tmp_path/'b', seed=3)
    for st in ('segmentation', 'quality', 'landmarks'):
        assert a['models'][st]['valid'] == b['models'][st]['valid'], st
