"`crl-uls predict` and the pipeline on real files: error rows, outputs, trust, determinism."
from pathlib import Path
import csv, json, shutil
import numpy as np
import pytest
from conftest import venv_tool, run, cli

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
    r = cli('predict', str(tiny_models), str(d), '--out', str(out), '--masks', str(tmp_path/'masks'),
            '--overlays', str(tmp_path/'ov'), '--labelme', str(tmp_path/'lm'), '--quiet')
    assert r.returncode == 1, r.stderr            # some inputs failed
    assert 'Traceback' not in r.stderr and 'measured 4 of 7 inputs, 3 failed' in r.stderr
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 7 and not Path(f'{out}.partial').exists()      # written beside, renamed when complete
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

def test_predict_json_and_spacing_argument(tiny_models, found, tmp_path):
    from crl_uls.data import write_png
    f = write_png(tmp_path/'found.png', found.image)
    r = cli('predict', str(tiny_models), str(f), '--mm-per-px', '0.3', '--json', '--quiet', '--points', 'geometric')
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout.strip().splitlines()[-1])
    assert row['mm_per_px'] == 0.3 and row['error'] is None
    assert row['crl_px'] > 0 and abs(row['crl_mm'] - 0.3 * row['crl_px']) < 0.02
    bad = cli('predict', str(tiny_models), str(f), '--mm-per-px', '-1')
    assert bad.returncode == 2 and 'mm_per_px must be finite' in bad.stderr

def test_changed_model_file_is_refused(tiny_models, inputs, tmp_path):
    "A changed weights file is refused before anything is built from it; a changed .pkl does not matter, since nothing is unpickled."
    d, _ = inputs
    m = tmp_path/'models'; shutil.copytree(tiny_models, m)
    orig = (m/'segmentation.safetensors').read_bytes()
    b = bytearray(orig); b[len(b) // 2] ^= 1; (m/'segmentation.safetensors').write_bytes(bytes(b))
    r = cli('predict', str(m), str(d/'ok_0.png'), '--quiet')
    assert r.returncode == 2 and 'segmentation.safetensors does not match its sha256' in r.stderr and 'Traceback' not in r.stderr
    (m/'segmentation.safetensors').write_bytes(orig)
    (m/'quality.pkl').write_bytes(b'not a pickle at all')             # predict never opens it
    r = cli('predict', str(m), str(d/'ok_0.png'), '--quiet')
    assert r.returncode == 0, r.stderr
    (m/'manifest.json').unlink()
    r = cli('predict', str(m), str(d/'ok_0.png'), '--quiet')
    assert r.returncode == 2 and 'no manifest.json' in r.stderr

def test_loading_a_model_folder_unpickles_nothing(tiny_models, monkeypatch):
    "The learners are rebuilt in code from weights and descriptions: with torch.load and pickle's loaders broken, the folder still loads."
    import pickle, torch
    from crl_uls.pipeline import Pipeline
    def refuse(*a, **k): raise AssertionError('something was unpickled')
    for mod, name in ((torch, 'load'), (pickle, 'load'), (pickle, 'loads'), (pickle, 'Unpickler')): monkeypatch.setattr(mod, name, refuse)
    pipe = Pipeline.load(tiny_models)
    assert pipe.landmarks.crl_uls.stage == 'landmarks' and pipe.acceptance is not None

def test_a_linked_model_file_and_a_wrong_pin_are_refused(tiny_models, inputs, tmp_path):
    "A model file that is a symbolic link is refused even with --trust; --expect-sha256 pins the manifest from outside the folder."
    from crl_uls.pipeline import file_sha256
    d, _ = inputs
    m = tmp_path/'models'; shutil.copytree(tiny_models, m)
    pin = file_sha256(m/'manifest.json')
    r = cli('predict', str(m), str(d/'ok_0.png'), '--quiet', '--expect-sha256', pin)
    assert r.returncode == 0, r.stderr
    r = cli('predict', str(m), str(d/'ok_0.png'), '--quiet', '--expect-sha256', '0' * 64)
    assert r.returncode == 2 and 'not the model folder you pinned' in r.stderr, r.stderr
    (m/'quality.json').rename(tmp_path/'q.json'); (m/'quality.json').symlink_to(tmp_path/'q.json')
    r = cli('predict', str(m), str(d/'ok_0.png'), '--quiet', '--trust')
    assert r.returncode == 2 and 'a symbolic link' in r.stderr and 'Traceback' not in r.stderr, r.stderr

def test_spacing_from_the_data_set_or_a_table(tiny_models, tmp_path):
    "PNGs of a data set take their spacing from its meta.csv; a --spacing table wins; the summary counts what lacks spacing."
    import pandas as pd
    from crl_uls.phantom import write_phantoms
    meta = write_phantoms(tmp_path/'set', 3, 64, seed=11, workers=1, progress=False)
    r = cli('predict', str(tiny_models), str(tmp_path/'set'), '--out', str(tmp_path/'a.csv'), '--quiet')
    assert r.returncode == 0, r.stderr
    got = pd.read_csv(tmp_path/'a.csv')
    assert list(got.mm_per_px.round(6)) == list(meta.mm_per_px.round(6))        # meta.csv's spacing, for every image
    assert '0 without spacing' in r.stderr, r.stderr
    (tmp_path/'sp.csv').write_text(f'id,mm_per_px\n{meta.id[0]},0.5\n')
    loose = tmp_path/'loose'; loose.mkdir()
    for i in meta.id: shutil.copy(tmp_path/'set'/'images'/f'{i}.png', loose)
    r = cli('predict', str(tiny_models), str(loose), '--spacing', str(tmp_path/'sp.csv'),
            '--out', str(tmp_path/'b.csv'), '--quiet')
    got = pd.read_csv(tmp_path/'b.csv')
    assert got.mm_per_px.iloc[0] == 0.5 and got.mm_per_px.iloc[1:].isna().all()
    assert '2 without spacing (CRL in pixels, no age: give --mm-per-px or --spacing CSV)' in r.stderr, r.stderr

def test_a_data_folder_given_as_models_is_named_as_such(tmp_path, inputs):
    from crl_uls.phantom import write_phantoms
    write_phantoms(tmp_path/'set', 1, 32, seed=1, workers=1, progress=False)
    r = cli('predict', str(tmp_path/'set'), str(inputs[0]/'ok_0.png'))
    assert r.returncode == 2 and 'not a model folder: it holds none of segmentation.pkl' in r.stderr, r.stderr
    assert '--trust' not in r.stderr

def test_output_piped_into_head_ends_quietly(tiny_models, found, tmp_path):
    "`crl-uls predict ... | head -1`: the reader goes away after one line; no BrokenPipeError traceback."
    import subprocess
    from crl_uls.data import write_png
    for i in range(12): write_png(tmp_path/f'{i:02d}.png', found.image)
    proc = subprocess.Popen([venv_tool('crl-uls'), 'predict', str(tiny_models), str(tmp_path), '--bs', '1', '--quiet'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline(); proc.stdout.close()
    err = proc.stderr.read(); proc.wait(timeout=300)
    assert first.startswith(str(tmp_path/'00.png')), first
    assert 'Traceback' not in err and 'BrokenPipeError' not in err, err

def test_measuring_uses_the_chosen_thread_count(tiny_models):
    "Pipeline.load sets torch's threads through crl_uls.core.set_threads (CRL_ULS_THREADS), not torch's one per core."
    import os, sys
    env = {k: v for k, v in os.environ.items() if k != 'OMP_NUM_THREADS'} | {'CRL_ULS_THREADS': '1'}
    code = ('import sys, torch; torch.set_num_threads(2); from crl_uls.pipeline import Pipeline; '
            'Pipeline.load(sys.argv[1]); print(torch.get_num_threads())')
    r = run(sys.executable, '-c', code, str(tiny_models), env=env)
    assert r.returncode == 0 and r.stdout.split()[-1] == '1', r.stdout + r.stderr

def test_rows_carry_the_decision_in_both_states(decided, found, tmp_path):
    "Every row has accepted and p_ok; a result not accepted says CHECK first and its overlay has the CHECK banner."
    import cv2
    from crl_uls.data import write_png
    from crl_uls.pipeline import CHECK_RGB
    f = write_png(tmp_path/'found.png', found.image)
    rows = {}
    for k, models in decided.items():
        out = tmp_path/f'{k}.csv'
        r = cli('predict', str(models), str(f), '--mm-per-px', str(found.mm_per_px), '--points', 'geometric',
                '--out', str(out), '--overlays', str(tmp_path/k), '--quiet')
        assert r.returncode == 0, r.stderr
        rows[k] = next(csv.DictReader(open(out)))
        rows[k]['banner'] = tuple(cv2.imread(str(tmp_path/k/'found.png'))[-3, 20][::-1])
    a, n = rows['always'], rows['never']
    assert (a['accepted'], n['accepted']) == ('True', 'False')
    assert a['p_ok'] == n['p_ok'] and 0 <= float(a['p_ok']) <= 1        # the same p_ok; only the threshold differs
    assert n['warnings'].startswith('CHECK: not accepted') and not a['warnings'].startswith('CHECK')
    assert n['banner'] == CHECK_RGB and a['banner'] != CHECK_RGB

def test_evaluate_reports_faulty_items_and_scores_the_rest(tiny_models, tmp_path):
    from crl_uls.phantom import write_phantoms
    meta = write_phantoms(tmp_path/'set', 6, 64, seed=21, workers=1, progress=False)
    (tmp_path/'set'/'images'/f'{meta.id[0]}.png').unlink()
    (tmp_path/'set'/'annotations'/f'{meta.id[1]}.json').write_text('not json')
    r = cli('evaluate', str(tiny_models), str(tmp_path/'set'), '--out', str(tmp_path/'rep'), '--quiet')
    assert r.returncode == 1, r.stderr                                  # some items could not be evaluated
    assert f'{meta.id[0]}: not evaluated: missing_image' in r.stdout and f'{meta.id[1]}: not evaluated: bad_annotation' in r.stdout
    assert '4 images:' in r.stdout and 'limits of agreement' in r.stdout, r.stdout
    summary = json.loads((tmp_path/'rep'/'summary.json').read_text())
    assert summary['images'] == 4 and set(summary['skipped']) == set(meta.id[:2])
    assert {'results.csv', 'bland_altman.png', 'risk_coverage.png', 'worst.png', 'by_features.csv', 'by_features.png'} <= {p.name for p in (tmp_path/'rep').iterdir()}
    evaluated = meta.features[2:].fillna('').str.split()                 # the breakdown by the phantom's features, on screen too
    assert 'by features, worst first' in r.stdout, r.stdout
    first = {line.split()[0] for line in r.stdout.splitlines() if line.strip()}
    assert {t for ts in evaluated for t in ts} <= first, r.stdout        # one row per tag of the evaluated images
    by = {row['features']: row['images'] for row in summary['by']['features']}
    assert by['all'] == 4 and all(by[t] == sum(t in ts for ts in evaluated) for t in by if t not in ('all', '(none)'))
    r = cli('evaluate', str(tiny_models), str(tmp_path/'set'), '--by', 'scanner', '--quiet')
    assert r.returncode == 2 and "no column 'scanner'" in r.stderr and 'Traceback' not in r.stderr, r.stderr

def test_an_unwritable_output_is_one_line(tiny_models, inputs, tmp_path):
    "A path that cannot be written (here under a regular file) ends in one line naming it, exit status 2, no traceback; an older result stays."
    d, _ = inputs
    (tmp_path/'file').write_text('x')
    r = cli('predict', str(tiny_models), str(d/'ok_0.png'), '--out', str(tmp_path/'file'/'r.csv'), '--quiet')
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
    assert r.stderr.strip().count('\n') == 0 and f"{tmp_path/'file'}" in r.stderr, r.stderr
    from crl_uls.phantom import write_phantoms
    write_phantoms(tmp_path/'set', 8, 32, seed=3, workers=1, progress=False)
    r = cli('train', str(tmp_path/'set'), '--out', str(tmp_path/'file'/'m'), '--preset', 'tiny', '--quiet')
    assert r.returncode == 2 and 'Traceback' not in r.stderr and f"{tmp_path/'file'}" in r.stderr, r.stderr
