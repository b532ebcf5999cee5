"""The bad-input corpus (tests/corpus, written by make_corpus.py): each case gives a clear error naming the file
and the fault, or a correct result; never a traceback to the user, never a silent wrong CRL."""
import csv, json, math, shutil, sys
from pathlib import Path
import numpy as np, cv2
import pytest
from conftest import venv_tool, run, cli
from crl_uls.core import check_spacing
from crl_uls.data import DataError, read_image, read_mask, read_dicom, read_labelme, check_dataset
from crl_uls.pipeline import load_input

C = Path(__file__).resolve().parent/'corpus'
TRUTH = json.loads((C/'truth.json').read_text())

def test_truncated_png():
    with pytest.raises(DataError, match='truncated.png: not a readable image'): read_image(C/'truncated.png')

def test_zero_byte_file():
    with pytest.raises(DataError, match=r'zero_bytes.png: empty file \(0 bytes\)'): read_image(C/'zero_bytes.png')

def test_one_pixel_image_is_refused_for_measurement():
    assert read_image(C/'one_pixel.png').shape == (1, 1)            # readable...
    with pytest.raises(DataError, match='one_pixel.png: image of 1x1 px is too small'): load_input(C/'one_pixel.png')

def test_sixteen_bit_png_reads_as_the_same_8_bit_image():
    assert np.array_equal(read_image(C/'sixteen_bit.png'), read_image(C/'phantom.png'))

def test_rgba_png_reads_as_the_same_grey_image():
    assert np.array_equal(read_image(C/'rgba.png'), read_image(C/'phantom.png'))

def test_dicom_without_pixel_data():
    with pytest.raises(DataError, match='no_pixel_data.dcm: DICOM file has no pixel data'): read_dicom(C/'no_pixel_data.dcm')
    with pytest.raises(DataError, match='no pixel data'): load_input(C/'no_pixel_data.dcm')

@pytest.mark.parametrize('n', [0, 1, 3])
def test_labelme_without_two_points(n):
    with pytest.raises(DataError, match=f'labelme_{n}_points.json: needs two points \\(crown, then rump\\), found {n}'):
        read_labelme(C/f'labelme_{n}_points.json')

@pytest.mark.parametrize('bad', [float('nan'), -0.2, 0.0, float('inf')])
def test_bad_spacing_is_refused(bad):
    with pytest.raises(ValueError, match='mm_per_px must be finite and > 0'): check_spacing(bad)
    with pytest.raises(ValueError, match='mm_per_px must be finite and > 0'): load_input(C/'phantom.png', mm_per_px=bad)

@pytest.mark.parametrize('bad', ['nan', '-0.2', '0'])
def test_bad_spacing_on_the_command_line(bad, tmp_path):
    (tmp_path/'m').mkdir()
    r = run(venv_tool('crl-uls'), 'predict', str(tmp_path/'m'), str(C/'phantom.png'), '--mm-per-px', bad)
    assert r.returncode == 2 and 'mm_per_px must be finite and > 0' in r.stderr and 'Traceback' not in r.stderr

@pytest.mark.parametrize('bad, fault, severity', [('nan', 'missing_spacing', 'warning'), ('-0.2', 'bad_spacing', 'error'),
                                                  ('0', 'bad_spacing', 'error')])
def test_bad_spacing_in_a_data_set(bad, fault, severity, tmp_path):
    "A NaN in meta.csv reads as a missing value (CSV cannot tell them apart): CRL in px only, with a warning."
    d = tmp_path/'ds'; (d/'images').mkdir(parents=True)
    shutil.copy(C/'phantom.png', d/'images'/'a.png')
    (d/'meta.csv').write_text(f'id,mm_per_px\na,{bad}\n')
    _, faults = check_dataset(d)
    assert list(faults.fault) == [fault] and list(faults.severity) == [severity] and faults.id[0] == 'a'

def test_mask_of_the_wrong_size(tmp_path):
    with pytest.raises(DataError, match=r'mask_wrong_size.png: .*48x40.*96x80|mask_wrong_size.png: .*size'):
        read_mask(C/'mask_wrong_size.png', (80, 96))
    d = tmp_path/'ds'; (d/'images').mkdir(parents=True); (d/'masks').mkdir()
    shutil.copy(C/'phantom.png', d/'images'/'a.png'); shutil.copy(C/'mask_wrong_size.png', d/'masks'/'a.png')
    _, faults = check_dataset(d)
    assert 'mask_size' in set(faults.fault)

OVERSIZED = {'declares_100000x100000.png': 'declares 10,000,000,000 pixels, over the limit of 100,000,000 (CRL_ULS_MAX_PIXELS)',
             'declares_10000_frames.dcm': 'declares 512x512 px x 10000 frames = 2,621,440,000 pixels, over the limit of 100,000,000 '
                                          '(CRL_ULS_MAX_PIXELS)',
             'declares_30000x30000.jpg': 'declares 900,000,000 pixels, over the limit of 100,000,000 (CRL_ULS_MAX_PIXELS)'}

@pytest.mark.parametrize('name', OVERSIZED)
def test_an_oversized_header_is_refused_before_decoding(name):
    "A file whose header declares more than 100 megapixels (all frames together) is refused from its header, in one line."
    assert (C/name).stat().st_size < 1024                                   # it holds next to nothing: the header is all it has
    with pytest.raises(DataError) as e: read_image(C/name)
    assert str(e.value) == f"{C/name}: {OVERSIZED[name]}"
    with pytest.raises(DataError, match='over the limit'): load_input(C/name)

GROWTH = """
import resource, sys, warnings
warnings.simplefilter('ignore')
from crl_uls.cli import main
models, good, folder, out = sys.argv[1:]
first = main(['predict', models, good, '--quiet'])                       # torch, fastai and the models in memory: the baseline
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
code = main(['predict', models, folder, '--out', out, '--quiet'])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(first, code, before // 1024, (after - before) // 1024)
"""

def test_oversized_headers_through_predict(tiny_models, tmp_path):
    """`crl-uls predict` (its `main`, in a process of its own) on a folder holding the oversized files and a good scan: a
    one-line error row for each oversized file, a result for the scan, and the process's peak memory raised by under 1 GB
    over a first run on the scan alone (the process holds torch and the models before it reads a file: about 1.5 GB).
    Decoded, the 335-byte JPEG alone would take 1.7 GB: OpenCV's default limit (2**30 px) lets its 900 megapixels through."""
    folder = tmp_path/'in'; folder.mkdir()
    for name in [*OVERSIZED, 'phantom.png']: shutil.copy(C/name, folder/name)
    out = tmp_path/'r.csv'
    r = run(sys.executable, '-c', GROWTH, str(tiny_models), str(C/'phantom.png'), str(folder), str(out))
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    first, code, base_mb, grew_mb = (int(v) for v in r.stdout.split()[-4:])
    assert (first, code) == (0, 1), r.stderr[-2000:]
    rows = {Path(x['path']).name: x for x in csv.DictReader(open(out))}
    assert sorted(rows) == sorted([*OVERSIZED, 'phantom.png'])
    for name, msg in OVERSIZED.items(): assert rows[name]['error'] == f"{folder/name}: {msg}", rows[name]['error']
    assert not rows['phantom.png']['error'], rows['phantom.png']['error']
    assert grew_mb < 1024, f"peak memory grew by {grew_mb} MB over {base_mb} MB"

def test_path_that_does_not_exist():
    with pytest.raises(FileNotFoundError, match='nope.png: no such file'): read_image(C/'nope.png')
    with pytest.raises(FileNotFoundError, match='nope.png: no such file'): load_input(C/'nope.png')

def test_the_corpus_through_predict(tiny_models, tmp_path):
    "Every file of the corpus through `crl-uls predict`: error rows for the bad ones, the same result for the same picture."
    folder = tmp_path/'in'; shutil.copytree(C, folder)
    (folder/'make_corpus.py').unlink(); (folder/'truth.json').unlink()
    out = tmp_path/'r.csv'
    r = cli('predict', str(tiny_models), str(folder), str(folder/'missing.png'),
            '--mm-per-px', str(TRUTH['mm_per_px']), '--out', str(out), '--quiet')
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stderr
    rows = {Path(x['path']).name: x for x in csv.DictReader(open(out))}
    expect_error = {'truncated.png': 'not a readable image', 'zero_bytes.png': 'empty file', 'one_pixel.png': 'too small',
                    'no_pixel_data.dcm': 'no pixel data', 'not_an_image.txt': 'not a readable image', 'missing.png': 'no such file',
                    'labelme_0_points.json': 'not a readable image', 'labelme_1_points.json': 'not a readable image',
                    'labelme_3_points.json': 'not a readable image',
                    **{name: 'over the limit' for name in OVERSIZED}}
    for name, fault in expect_error.items():
        assert fault in rows[name]['error'] and name in rows[name]['error'], (name, rows[name]['error'])
    same = ['phantom.png', 'sixteen_bit.png', 'rgba.png']
    for name in same: assert not rows[name]['error'], rows[name]['error']
    for col in ('crown_x', 'crown_y', 'rump_x', 'rump_y', 'crl_mm', 'quality_prob'):
        assert len({rows[n][col] for n in same}) == 1, col           # the same picture in three encodings, one result
    assert not rows['mask_wrong_size.png']['error']                  # a small black image is an image: measured, with warnings
    assert rows['mask_wrong_size.png']['warnings']

BIG = """
import resource, sys, warnings, math
warnings.simplefilter('ignore')
from crl_uls.pipeline import Pipeline
pipe = Pipeline.load(sys.argv[1], points='geometric')
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
m = pipe.predict(sys.argv[2], mm_per_px=float(sys.argv[3]))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(m.width, m.height, m.mask.shape[1], m.mask.shape[0], m.crl_px, m.crl_mm, (after - before) / 1024, m.error)
"""

def test_very_large_image_is_measured_without_a_memory_blow_up(tiny_models, found, tmp_path):
    "An 8000x8000 scan is measured on a 2048 px copy; results come back in its own frame; memory grows by well under 1 GB."
    big = cv2.resize(found.image, (8000, 8000), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(tmp_path/'big.png'), big); del big
    sp = found.mm_per_px / 125
    r = run(sys.executable, '-c', BIG, str(tiny_models), str(tmp_path/'big.png'), str(sp))
    assert r.returncode == 0, r.stderr[-2000:]
    w, h, mw, mh, crl_px, crl_mm, grew_mb, err = r.stdout.split()[-8:]
    assert (w, h, mw, mh, err) == ('8000', '8000', '8000', '8000', 'None')
    assert crl_px != 'nan' and math.isclose(float(crl_mm), float(crl_px) * sp, rel_tol=1e-6)
    assert float(grew_mb) < 1024, f"peak memory grew by {grew_mb} MB"

def test_a_file_name_that_is_not_utf8(tiny_models, found, tmp_path):
    """A Latin-1 name (`caf\\xe9.png`, as an older system wrote it) among good images: every one measured, by the console
    script (OpenCV's own reader crashed the process on it: a segmentation fault) and into CSV, labelme and overlay files."""
    import os
    from crl_uls.data import write_png
    folder = tmp_path/'in'
    for name in (b'a.png', b'caf\xe9.png', b'z.png'): write_png(folder/os.fsdecode(name), found.image)
    sp = str(found.mm_per_px)
    r = run(venv_tool('crl-uls'), 'predict', str(tiny_models), str(folder), '--mm-per-px', sp, '--quiet', '--points', 'geometric')
    assert r.returncode == 0, (r.returncode, r.stderr)
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3 and not any('ERROR' in l for l in lines), lines
    assert any(r'caf\udce9.png' in l for l in lines), lines                 # printed escaped, not a crash
    out = tmp_path/'r.csv'
    r = cli('predict', str(tiny_models), str(folder), '--mm-per-px', sp, '--out', str(out), '--quiet',
            '--labelme', str(tmp_path/'lm'), '--overlays', str(tmp_path/'ov'), '--points', 'geometric')
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(out, newline='', errors='surrogateescape')))
    assert [Path(x['path']).name for x in rows] == ['a.png', os.fsdecode(b'caf\xe9.png'), 'z.png']
    assert not any(x['error'] for x in rows) and len({x['crl_mm'] for x in rows}) == 1 and rows[0]['crl_mm'], rows
    assert b'caf\xe9.png' in out.read_bytes()                                # the name byte for byte, as the archive has it
    assert sorted(os.listdir(os.fsencode(tmp_path/'lm'))) == [b'a.json', b'caf\xe9.json', b'z.json']
    assert read_labelme(tmp_path/'lm'/os.fsdecode(b'caf\xe9.json')).image_path.name == os.fsdecode(b'caf\xe9.png')
    assert len(os.listdir(tmp_path/'ov')) == 3

def test_twelve_bit_data_in_a_sixteen_bit_png(tmp_path):
    "12-bit values (0-4095) stored in a 16-bit PNG read as the picture, not scaled by 65535 into near black."
    ref = read_image(C/'phantom.png')
    cv2.imwrite(str(tmp_path/'twelve.png'), ref.astype(np.uint16) * 16)
    got = read_image(tmp_path/'twelve.png')
    assert np.abs(got.astype(int) - ref).max() <= 1 and got.max() > 200

def test_monochrome1_is_inverted(tmp_path):
    "A MONOCHROME1 file (0 is white) reads as the same picture as its MONOCHROME2 twin."
    import pydicom
    from crl_uls.data import write_dicom
    ref = read_image(C/'phantom.png')
    write_dicom(tmp_path/'m1.dcm', 255 - ref, 0.2)
    ds = pydicom.dcmread(tmp_path/'m1.dcm'); ds.PhotometricInterpretation = 'MONOCHROME1'; ds.save_as(tmp_path/'m1.dcm')
    assert np.array_equal(read_dicom(tmp_path/'m1.dcm').image, ref)

def test_negative_region_delta_is_warned(tmp_path):
    import pydicom
    from crl_uls.data import write_dicom
    write_dicom(tmp_path/'neg.dcm', read_image(C/'phantom.png'), 0.2)
    ds = pydicom.dcmread(tmp_path/'neg.dcm'); ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX = -0.02; ds.save_as(tmp_path/'neg.dcm')
    with pytest.warns(UserWarning, match='neg.dcm: negative PhysicalDelta'):
        d = read_dicom(tmp_path/'neg.dcm')
    assert d.mm_per_px == pytest.approx(0.2)

def test_a_spacing_table_naming_a_file_twice_is_refused(tmp_path):
    from crl_uls.data import read_spacing_csv
    (tmp_path/'sp.csv').write_text('path,mm_per_px\na.png,0.2\nb.png,0.3\na.png,0.25\n')
    with pytest.raises(DataError, match=r'sp.csv: path a.png listed more than once'): read_spacing_csv(tmp_path/'sp.csv')
    r = cli('predict', str(tmp_path), str(C/'phantom.png'), '--spacing', str(tmp_path/'sp.csv'))
    assert r.returncode == 2 and 'listed more than once' in r.stderr, r.stderr

def test_an_implausible_spacing_is_warned_in_the_row(tiny_models, found):
    "A spacing in cm given as mm (2.5 for 0.25) is used as given, and the row says to check its unit."
    from crl_uls.pipeline import Pipeline
    pipe = Pipeline.load(tiny_models, points='geometric')
    ok, slip = pipe.predict(found.image, found.mm_per_px), pipe.predict(found.image, 2.5)
    assert not any('plausible' in w for w in ok.warnings)
    assert any('outside the plausible 0.01–2 mm' in w for w in slip.warnings), slip.warnings
    assert slip.crl_mm == pytest.approx(ok.crl_mm * 2.5 / found.mm_per_px, rel=1e-6)

def test_what_the_fuzzer_found_gives_rows(tiny_models, found, tmp_path):
    """Inputs tools/fuzz.py found that ended a whole `predict` run: a DICOM dated and with a wild spacing (an age of
    millions of years: the due date overflowed), an image 267 times wider than tall (under a pixel in the letterbox: an
    OpenCV assertion), and a DICOM whose ultrasound region holds a 2-byte value declared 31 bytes long (pydicom's
    BytesLengthException, raised when the spacing was read), and a DICOM whose spacing makes the CRL overflow to
    infinity. Each is now a row, beside a good scan's."""
    from crl_uls.data import write_dicom
    dated = write_dicom(tmp_path/'wild_spacing.dcm', found.image, 1e31, tags={'StudyDate': '20260116'})
    raw = write_dicom(tmp_path/'r.dcm', found.image, found.mm_per_px).read_bytes(); key = b'\x18\x00\x12\x60US\x02\x00'  # RegionSpatialFormat
    assert raw.count(key) == 1
    odd = tmp_path/'odd_length.dcm'; odd.write_bytes(raw.replace(key, b'\x18\x00\x12\x60US\x1f\x00'))
    with pytest.raises(DataError, match='odd_length.dcm: a malformed DICOM header .BytesLengthException'): read_dicom(odd)
    huge = write_dicom(tmp_path/'huge_spacing.dcm', found.image, 1e308)
    thin = tmp_path/'thin.png'; thin.write_bytes(cv2.imencode('.png', np.full((96, 25680), 90, np.uint8))[1].tobytes())
    good = tmp_path/'good.png'; good.write_bytes(cv2.imencode('.png', found.image)[1].tobytes())
    out = tmp_path/'r.csv'
    r = cli('predict', str(tiny_models), str(dated), str(thin), str(odd), str(huge), str(good), '--points', 'geometric', '--out', str(out), '--quiet')
    assert r.returncode in (0, 1) and 'Traceback' not in r.stderr, r.stderr
    rows = {Path(x['path']).name: x for x in csv.DictReader(open(out))}
    assert list(rows) == ['wild_spacing.dcm', 'thin.png', 'odd_length.dcm', 'huge_spacing.dcm', 'good.png'], list(rows)
    h = rows['huge_spacing.dcm']
    assert not h['error'] and h['crl_px'] and h['crl_mm'] in ('', 'nan') and 'is not a length in mm' in h['warnings'], h
    assert 'a malformed DICOM header' in rows['odd_length.dcm']['error'] and not rows['good.png']['error']
    assert rows['wild_spacing.dcm']['scan_date'] == '2026-01-16' and rows['wild_spacing.dcm']['due_date'] == ''
    assert 'gives no due date' in rows['wild_spacing.dcm']['warnings'], rows['wild_spacing.dcm']
    assert not rows['thin.png']['error'] and rows['thin.png']['width'] == '25680', rows['thin.png']
