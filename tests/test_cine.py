"`crl-uls predict` on cine loops (multi-frame DICOMs written by crl_uls's own writer), scan dates, due dates and DICOM IDs."
import csv, json
import numpy as np
import pytest
from conftest import cli

DATE, TAGS = '20240301', {'StudyDate': '20240301', 'PatientID': '=P1', 'StudyInstanceUID': '1.2.3'}

@pytest.fixture(scope='module')
def loop(found, tmp_path_factory):
    "A 4-frame loop: an empty frame, then the phantom the tiny models find, moved and mirrored (the same fetus, truth known)."
    from crl_uls.data import write_dicom
    im = found.image
    frames = np.stack([np.zeros_like(im), np.roll(im, (1, 2), (0, 1)), im, np.ascontiguousarray(im[:, ::-1])])
    return write_dicom(tmp_path_factory.mktemp('loop')/'loop.dcm', frames, found.mm_per_px, tags=TAGS), frames

def rows(path): return list(csv.DictReader(open(path)))

def test_a_loop_gives_one_row_its_longest_accepted_frame(decided, loop, found, tmp_path):
    "Default --frames best: one row, the accepted frame with the longest CRL (checked against --frames all), with the counts."
    f, frames = loop
    ok = cli('predict', decided['always'], f, '--points', 'geometric', '--quiet', '--frames', 'all', '--out', tmp_path/'all.csv')
    assert ok.returncode == 0, ok.stderr
    every = rows(tmp_path/'all.csv')
    assert [r['frame'] for r in every] == ['0', '1', '2', '3'] and all(r['frames_measured'] == '1' for r in every)
    acc = [r for r in every if r['accepted'] == 'True' and r['crl_mm']]
    assert acc and every[0] not in acc                        # the empty frame has no fetus: never accepted
    want = max(acc, key=lambda r: float(r['crl_mm']))
    r = cli('predict', decided['always'], f, '--points', 'geometric', '--quiet', '--out', tmp_path/'best.csv')
    assert r.returncode == 0, r.stderr
    (best,) = rows(tmp_path/'best.csv')
    assert (best['frame'], best['crl_mm'], best['frames_measured'], best['frames_accepted']) == \
           (want['frame'], want['crl_mm'], '4', str(len(acc)))
    # the chosen frame measured alone, as a single image, gives the same CRL
    from crl_uls.data import write_png
    one = cli('predict', decided['always'], write_png(tmp_path/'one.png', frames[int(best['frame'])]), '--points', 'geometric',
              '--mm-per-px', str(found.mm_per_px), '--json', '--quiet')
    single = json.loads(one.stdout.strip().splitlines()[-1])
    assert abs(single['crl_mm'] - float(best['crl_mm'])) < 0.011 and single['frame'] == 0 and single['frames_measured'] == 1
    # dates and IDs of the DICOM, in the row (a patient ID that looks like a formula neutralised in the CSV)
    assert (best['scan_date'], best['patient_id'], best['study_uid']) == ('2024-03-01', "'=P1", '1.2.3') and best['sop_uid']
    ga = json.loads(cli('ga', best['crl_mm'], '--scan-date', '2024-03-01', '--json').stdout)
    from datetime import date
    assert abs((date.fromisoformat(best['due_date']) - date.fromisoformat(ga['due_date'])).days) <= 1, (best['due_date'], ga['due_date'])

def test_frames_n_measures_that_frame_alone(tiny_models, loop, tmp_path):
    "--frames N: frame N alone; a frame the file lacks is an error row naming it; a bad --frames a one-line usage error."
    f, _ = loop
    r = cli('predict', tiny_models, f, '--points', 'geometric', '--quiet', '--frames', '2', '--json')
    assert r.returncode == 0, r.stderr
    (row,) = [json.loads(l) for l in r.stdout.strip().splitlines()]
    assert (row['frame'], row['frames_measured'], row['error']) == (2, 1, None)
    r = cli('predict', tiny_models, f, '--quiet', '--frames', '9', '--json')
    assert r.returncode == 1 and 'frame 9 asked for, the file has 4' in json.loads(r.stdout.strip())['error']
    bad = cli('predict', tiny_models, f, '--frames', 'most')
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and '--frames must be' in bad.stderr

def test_a_loop_without_a_fetus_is_one_check_row(tiny_models, found, tmp_path):
    "Every frame empty: one CHECK row saying no frame was accepted, no crash, and the next input still measured."
    from crl_uls.data import write_dicom, write_png
    empty = write_dicom(tmp_path/'empty.dcm', np.zeros((3, 64, 64), np.uint8), 0.3)
    png = write_png(tmp_path/'z.png', found.image)
    r = cli('predict', tiny_models, empty, png, '--points', 'geometric', '--quiet', '--out', tmp_path/'r.csv')
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr
    got = rows(tmp_path/'r.csv')
    assert len(got) == 2 and got[1]['crl_px'] and got[1]['frame'] == '0'
    e = got[0]
    assert (e['error'], e['accepted'], e['frames_measured'], e['frames_accepted']) == ('', 'False', '3', '0')
    assert 'CHECK: no frame accepted' in e['warnings'], e['warnings']

def test_scan_date_from_the_option_or_the_dicom(tiny_models, found, tmp_path):
    "--scan-date wins; else StudyDate, ContentDate...; a malformed DICOM date is a warning and no date; a bad --scan-date a usage error."
    from crl_uls.data import write_dicom
    im, sp = found.image, found.mm_per_px
    study = write_dicom(tmp_path/'study.dcm', im, sp, tags={'StudyDate': DATE})
    content = write_dicom(tmp_path/'content.dcm', im, sp, tags={'ContentDate': '20240305'})
    bad = write_dicom(tmp_path/'bad.dcm', im, sp, tags={'StudyDate': '2024-3-1', 'PatientID': 'P2'})
    run = lambda *a: cli('predict', tiny_models, study, content, bad, '--points', 'geometric', '--quiet', '--json', *a)
    got = [json.loads(l) for l in run().stdout.strip().splitlines()]
    assert [g['scan_date'] for g in got] == ['2024-03-01', '2024-03-05', None]
    assert all(g['due_date'] for g in got[:2]) and got[2]['due_date'] is None and got[2]['error'] is None
    assert "DICOM StudyDate '2024-3-1' is not a date" in got[2]['warnings'] and got[2]['patient_id'] == 'P2'
    over = [json.loads(l) for l in run('--scan-date', '2024-02-02').stdout.strip().splitlines()]
    assert [g['scan_date'] for g in over] == ['2024-02-02'] * 3 and all(g['due_date'] for g in over)
    assert over[0]['due_date'] < got[0]['due_date']                          # an earlier scan, an earlier due date
    r = cli('predict', tiny_models, study, '--scan-date', '2024-13-01')
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and 'YYYY-MM-DD' in r.stderr, r.stderr
