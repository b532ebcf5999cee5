"The correction loop (predict --labelme -> a data set -> check-data -> train) and a killed archive run resumed (predict --resume)."
from pathlib import Path
import csv, os, signal, subprocess, sys, time
import numpy as np
import pytest
from conftest import venv_tool, cli

def _dice(a, b): return 2 * ((a > 0) & (b > 0)).sum() / ((a > 0).sum() + (b > 0).sum())

def test_predicted_outlines_and_points_come_back_as_a_training_set(tiny_models, tmp_path):
    "What predict writes with --labelme is a whole annotation: check-data finds no error, train reads it, and it holds the prediction."
    from crl_uls.phantom import make_phantom
    from crl_uls.data import write_png, read_labelme, read_mask
    ds = tmp_path/'scans'
    for i in range(10): write_png(ds/'images'/f'scan_{i:02d}.png', make_phantom(seed=21, index=i, size=64).image)
    r = cli('predict', tiny_models, ds/'images', '--labelme', ds/'annotations', '--masks', tmp_path/'masks', '--out', tmp_path/'r.csv',
            '--mm-per-px', '0.25', '--points', 'geometric', '--quiet')
    assert r.returncode == 0, r.stderr
    rows = {Path(q['path']).stem: q for q in csv.DictReader(open(tmp_path/'r.csv'))}
    for i in list(rows):                      # a user drops the scans the models found nothing on (or annotates them by hand)
        if not rows[i]['crown_x']: (ds/'images'/f'{i}.png').unlink(); (ds/'annotations'/f'{i}.json').unlink(missing_ok=True); del rows[i]
    assert len(rows) >= 6, f'the tiny models measured only {len(rows)} of 10 phantoms'
    assert sorted(q.stem for q in (ds/'annotations').glob('*.json')) == sorted(rows)
    (ds/'meta.csv').write_text('id,mm_per_px\n' + ''.join(f'{i},0.25\n' for i in rows))
    for i, row in rows.items():
        a = read_labelme(ds/'annotations'/f'{i}.json')
        assert a.image_path.resolve() == (ds/'images'/f'{i}.png').resolve() and a.size == (64, 64)
        assert len(a.outlines) == 1 and 3 <= len(a.outlines[0]) <= 80
        got = np.array([a.crown.x, a.crown.y, a.rump.x, a.rump.y])
        want = np.array([float(row[k]) for k in ('crown_x', 'crown_y', 'rump_x', 'rump_y')])
        assert np.abs(got - want).max() <= 0.01, (i, got, want)           # the points as measured
        pred = read_mask(tmp_path/'masks'/f'{i}.png')
        assert _dice(read_mask(ds/'annotations'/f'{i}.json', pred.shape), pred) >= 0.95, i   # the polygon is the predicted mask
    r = cli('check-data', ds)
    assert r.returncode == 0 and f'checked {len(rows)} items in {ds}: 0 errors in 0 items, 0 warnings' in r.stdout, r.stdout + r.stderr
    r = cli('train', ds, '--out', tmp_path/'m', '--preset', 'tiny', '--epochs', '1', '--set', 'quality.fold_epochs=1', '--calibration', '0', '--quiet')
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path/'m'/'manifest.json').exists()

def _rows(p): return p.read_bytes().decode('utf-8', 'surrogateescape').splitlines()

def test_a_killed_run_resumed_gives_the_rows_of_one_run(tiny_models, tmp_path):
    "kill -9 of a real crl-uls predict, its last row then cut in half; --resume measures the rest and writes what one run writes."
    from crl_uls.phantom import make_phantom
    from crl_uls.data import write_png
    d = tmp_path/'in'
    names = [f'a{i:02d}.png' for i in range(12)]
    names[2] = '=a02.png'                                  # odd names: one like a formula,
    names[3] = os.fsdecode(b'a03\xff.png')                # a name that is not UTF-8
    files = [d/n for n in names]
    imgs = [make_phantom(seed=5, index=i, size=64).image for i in range(12)]
    for f, im in zip(files, imgs): write_png(f, im)
    files[7].unlink(); os.mkfifo(files[7])              # the run blocks there, reading a file that never comes, with 7 rows written
    out = tmp_path/'r.csv'; part = Path(f'{out}.partial')
    args = ['--out', out, '--bs', '1', '--points', 'geometric', '--mm-per-px', '0.3', '--quiet']
    p = subprocess.Popen([venv_tool('crl-uls'), 'predict', str(tiny_models), *map(str, files), *map(str, args)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t = time.time()
    while not (part.exists() and len(_rows(part)) == 8):
        assert p.poll() is None and time.time() - t < 300, p.stderr.read().decode() if p.poll() is not None else 'too slow'
        time.sleep(0.05)
    time.sleep(1); assert len(_rows(part)) == 8 and p.poll() is None  # blocked on the eighth input
    p.send_signal(signal.SIGKILL); p.wait(); p.stderr.close()
    assert p.returncode == -signal.SIGKILL and not out.exists()
    b = part.read_bytes(); part.write_bytes(b[:len(b) - 25])          # a row cut as a kill mid-write leaves it
    files[7].unlink(); write_png(files[7], imgs[7])
    r = cli('predict', tiny_models, *files, *args, '--resume')
    assert r.returncode == 0, r.stderr
    assert f'resuming from {part}: 6 of 12 inputs already measured' in r.stderr, r.stderr
    assert not part.exists()
    r = cli('predict', tiny_models, *files, '--out', tmp_path/'one.csv', *args[2:])
    assert r.returncode == 0, r.stderr
    once = _rows(tmp_path/'one.csv')
    assert len(once) == 13 and _rows(out) == once                     # the same rows, in input order
    assert out.read_bytes() == (tmp_path/'one.csv').read_bytes()
    assert '=a02.png' in once[3] and b'a03\xff.png' in out.read_bytes()
    r = cli('predict', tiny_models, *files, *args, '--resume')           # all there: nothing measured, the file unchanged
    assert r.returncode == 0 and '12 of 12 inputs already measured' in r.stderr and out.read_bytes() == (tmp_path/'one.csv').read_bytes()

def test_resume_refuses_what_predict_did_not_write(tiny_models, tmp_path):
    "--resume without --out, and an --out that is not a predict CSV: one line each, nothing overwritten."
    from crl_uls.phantom import make_phantom
    from crl_uls.data import write_png
    f = write_png(tmp_path/'a.png', make_phantom(seed=5, index=0, size=64).image)
    r = cli('predict', tiny_models, f, '--resume', '--quiet')
    assert r.returncode == 2 and r.stderr.strip() == 'crl-uls predict: error: --resume needs --out CSV: the results of the run to resume'
    (tmp_path/'r.csv').write_text('id,crl\n1,2\n')
    r = cli('predict', tiny_models, f, '--out', tmp_path/'r.csv', '--resume', '--quiet')
    assert r.returncode == 2 and r.stderr.strip().count('\n') == 0 and 'not a CSV written by crl-uls predict' in r.stderr, r.stderr
    assert (tmp_path/'r.csv').read_text() == 'id,crl\n1,2\n'
