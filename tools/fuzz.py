"""Fuzz the readers and `crl-uls predict` with mutated PNG, JPEG, TIFF, BMP, DICOM, labelme and CSV files.

    python tools/fuzz.py [--n 10000] [--seed 0] [--workers 2] [--timeout 60] [--keep DIR]

Each input is made from a small seed file by random mutations: bytes flipped, replaced by hostile values, inserted, cut
or repeated; PNG chunks given right CRCs again so the decoder reads past them; DICOM tags, labelme values and CSV cells
set to hostile values; a hostile file name one time in three (Latin-1 bytes, a spreadsheet formula, a line break, 200
characters, a wrong extension). It goes through the reader that meets it in use: `prepare_input` (what `predict` reads
with) for images and DICOM, `check_dataset` (`crl-uls check-data`) for labelme files and a meta.csv, `read_spacing_csv`
and `read_landmarks_csv` for tables. Every batch of images then goes through `crl-uls predict` with the tiny models
(`--out`, `--labelme`, and now and then `--report`), which must give one row per file.

Each input must end in a value, a row or a one-line error within `--timeout` seconds. What does not is counted and kept
under `--keep`: a crash (the process killed by a signal), a traceback (an exception the tool neither turns into a row
nor into a one-line error), a hang (past the limit), or rows lost by `predict`. The inputs run in child processes, so a
crash cannot end the run: the parent notes it and starts a new child after that input. Prints how many inputs were
tried and what happened to them, then the whole result as one JSON line (`RESULT {...}`); exit status 1 when anything crashed, hung, raised or lost a row."""
import argparse, collections, copy, io, json, os, re, select, shutil, signal, subprocess, sys, tempfile, time, zlib, struct
from pathlib import Path
import numpy as np

KINDS = {'png': 0.26, 'jpg': 0.12, 'tif': 0.05, 'bmp': 0.03, 'dcm': 0.26, 'labelme': 0.14, 'meta': 0.05, 'spacing': 0.05, 'landmarks': 0.04}
IMAGE_KINDS = ('png', 'jpg', 'tif', 'bmp', 'dcm')
OUTCOMES = ('read', 'refused', 'crash', 'traceback', 'hang', 'rows lost')
FAILURES = ('crash', 'traceback', 'hang', 'rows lost')
INTERESTING = [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 127, 128, 255, 256, 1023, 1024, 4095, 4096, 32767, 32768,
               65535, 65536, 100_000, 2**31 - 1, 2**31, 2**32 - 1]

# ---------------------------------------------------------------------------------------------------- seeds
def make_seeds(d:Path) -> dict:
    "The seed files each kind is mutated from, written to `d` (the children read them there): {kind: [bytes, ...]}."
    import cv2
    from crl_uls.phantom import make_phantom
    from crl_uls.data import write_dicom, labelme_dict, mask_outline
    ps = [make_phantom(seed=5, index=i, size=(96, 80)) for i in range(3)]
    enc = lambda ext, a, *p: cv2.imencode(ext, a, list(p))[1].tobytes()
    img = ps[0].image
    seeds = {'png': [enc('.png', img), enc('.png', (img.astype(np.uint16) * 16)), enc('.png', np.dstack([img] * 3 + [np.full_like(img, 255)])),
                     enc('.png', np.dstack([img] * 3))],
             'jpg': [enc('.jpg', img, cv2.IMWRITE_JPEG_QUALITY, 80), enc('.jpg', np.dstack([img] * 3)),
                     enc('.jpg', img, cv2.IMWRITE_JPEG_PROGRESSIVE, 1)],
             'tif': [enc('.tif', img), enc('.tif', img.astype(np.uint16) * 257)],
             'bmp': [enc('.bmp', img), enc('.bmp', np.dstack([img] * 3))]}
    dcm = []
    for k, kw in enumerate([dict(tags={'StudyDate': '20260115', 'PatientID': 'P1'}), dict(spacing='pixel_spacing'),
                            dict(photometric='RGB'), dict(photometric='PALETTE COLOR'), dict(photometric='YBR_FULL')]):
        a = img if kw.get('photometric', 'MONOCHROME2') in ('MONOCHROME2', 'PALETTE COLOR') else np.dstack([img] * 3)
        dcm.append(write_dicom(d/f'seed{k}.dcm', a, 0.2, **kw).read_bytes())
    dcm.append(write_dicom(d/'seed_loop.dcm', np.stack([p.image for p in ps]), 0.2, tags={'ContentDate': '20260116'}).read_bytes())
    seeds['dcm'] = dcm
    p = ps[0]
    out = mask_outline(p.mask) if getattr(p, 'mask', None) is not None else None
    import base64
    lm = [labelme_dict(p.crown, p.rump, 'x.png', (96, 80), outline=out),
          labelme_dict(p.crown, p.rump, 'missing.png', (96, 80), image_data=base64.b64encode(seeds['png'][0]).decode())]
    seeds['labelme'] = [json.dumps(x, indent=1).encode() for x in lm]
    seeds['meta'] = [b'id,mm_per_px,patient,crown_x,crown_y,rump_x,rump_y\nx,0.2,P1,%.2f,%.2f,%.2f,%.2f\n' % (*p.crown, *p.rump)]
    seeds['spacing'] = [b'path,mm_per_px\nx.png,0.2\ny.dcm,0.15\n', b'id,mm_per_px\nx,0.2\n']
    seeds['landmarks'] = [b'id,crown_x,crown_y,rump_x,rump_y,mm_per_px\nx,%.2f,%.2f,%.2f,%.2f,0.2\n' % (*p.crown, *p.rump)]
    (d/'x.png').write_bytes(seeds['png'][0])                # the image a labelme seed names
    for k, v in seeds.items():
        for j, b in enumerate(v): (d/f'seed_{k}_{j}.bin').write_bytes(b)
    return seeds

def read_seeds(d:Path) -> dict:
    out = collections.defaultdict(list)
    for f in sorted(d.glob('seed_*_*.bin'), key=lambda f: (f.name.split('_')[1], int(f.stem.split('_')[2]))):
        out[f.name.split('_')[1]].append(f.read_bytes())
    return dict(out)

# ---------------------------------------------------------------------------------------------------- mutations
def mutate_bytes(b:bytes, rng, n:int|None=None, head:int=600) -> bytes:
    "Random byte-level mutations, most of them in the first `head` bytes (where the headers are)."
    b = bytearray(b)
    for _ in range(n or int(rng.integers(1, 9))):
        if not b: b = bytearray(rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()); continue
        at = int(rng.integers(0, max(1, min(len(b), head)))) if rng.random() < 0.7 else int(rng.integers(0, len(b)))
        op = rng.integers(0, 8)
        if op == 0: b[at] ^= 1 << int(rng.integers(0, 8))                                       # a bit flipped
        elif op == 1: b[at] = int(rng.choice([0, 1, 0x7f, 0x80, 0xff]))                          # a byte set
        elif op == 2:                                                                             # a 2- or 4-byte number set
            w = int(rng.choice([2, 4])); v = int(rng.choice(INTERESTING)) % (1 << 8 * w)
            b[at:at + w] = v.to_bytes(w, str(rng.choice(['big', 'little'])))
        elif op == 3: del b[at:at + int(rng.integers(1, 64))]                                     # bytes cut out
        elif op == 4: b[at:at] = rng.integers(0, 256, int(rng.integers(1, 32)), dtype=np.uint8).tobytes()   # random bytes inserted
        elif op == 5: k = int(rng.integers(1, 128)); b[at:at] = b[at:at + k] * int(rng.integers(1, 5))     # a stretch repeated
        elif op == 6: del b[int(rng.integers(1, len(b) + 1)):]                                     # truncated
        else: j = int(rng.integers(0, len(b))); b[at], b[j] = b[j], b[at]                         # two bytes swapped
    return bytes(b)

def fix_png_crcs(b:bytes) -> bytes:
    "Give every PNG chunk that can be walked its right CRC again, so a decoder reads the mutated fields instead of stopping."
    if not b.startswith(b'\x89PNG\r\n\x1a\n'): return b
    b, i = bytearray(b), 8
    while i + 12 <= len(b):
        n = struct.unpack('>I', b[i:i + 4])[0]
        if i + 12 + n > len(b): break
        b[i + 8 + n:i + 12 + n] = struct.pack('>I', zlib.crc32(bytes(b[i + 4:i + 8 + n])))
        i += 12 + n
    return bytes(b)

def mutate_png(b, rng):
    "Header fields of the IHDR chunk set to hostile values (size, depth, colour type, interlace), then bytes; CRCs fixed."
    b = bytearray(b)
    if rng.random() < 0.5 and len(b) > 33:
        field = rng.integers(0, 4)
        if field == 0: b[16:20] = int(rng.choice(INTERESTING)).to_bytes(4, 'big')
        elif field == 1: b[20:24] = int(rng.choice(INTERESTING)).to_bytes(4, 'big')
        elif field == 2: b[24] = int(rng.choice([0, 1, 2, 4, 8, 16, 3, 255]))
        else: b[25 + int(rng.integers(0, 4))] = int(rng.choice([0, 1, 2, 3, 4, 6, 7, 255]))
    b = bytes(b)
    if rng.random() < 0.6: b = mutate_bytes(b, rng)
    return fix_png_crcs(b) if rng.random() < 0.7 else b

DICOM_FIELDS = {'Rows': [0, 1, 7, 80, 81, 65535], 'Columns': [0, 1, 96, 97, 65535], 'BitsAllocated': [0, 1, 8, 12, 16, 32, 64, 255],
                'BitsStored': [0, 1, 7, 8, 12, 16, 17, 32, 64, 255], 'HighBit': [0, 7, 15, 31, 255], 'PixelRepresentation': [0, 1, 2],
                'SamplesPerPixel': [0, 1, 2, 3, 4, 255], 'PlanarConfiguration': [0, 1, 2],
                'PhotometricInterpretation': ['MONOCHROME1', 'MONOCHROME2', 'RGB', 'YBR_FULL', 'YBR_FULL_422', 'PALETTE COLOR', 'HSV', '', 'x' * 40],
                'NumberOfFrames': [0, 1, 2, 3, 4, 10_000, -1, '1.5', 'abc'], 'PixelSpacing': [[0, 0], [-1, 0.2], [1e308, 1e308], ['nan', 'inf'], [0.2], []],
                'StudyDate': ['', '2026', '20261340', '99999999', 'abcdefgh', '2026-01-15'], 'ContentDate': ['00000000', '2026011'],
                'PatientID': ['', '=HYPERLINK("x")', 'é' * 70, '\x00'], 'SOPInstanceUID': ['', '1.2.3', 'x' * 70],
                'RescaleSlope': [0, -1, 1e30, 'nan'], 'RescaleIntercept': [-1e30, 1e30], 'WindowWidth': [0, -1],
                'LargestImagePixelValue': [0, 65535]}
REGION_FIELDS = {'PhysicalDeltaX': [0.0, -0.02, 1e30, float('nan'), float('inf'), 1e-30], 'PhysicalDeltaY': [0.0, -0.02, float('nan')],
                 'RegionSpatialFormat': [0, 1, 2, 65535], 'PhysicalUnitsXDirection': [0, 3, 4, 65535], 'PhysicalUnitsYDirection': [0, 3, 65535],
                 'RegionLocationMinX0': [0, 50, 2**31 - 1, 2**32 - 1], 'RegionLocationMaxX1': [0, 10, 2**32 - 1],
                 'RegionLocationMinY0': [0, 79, 2**32 - 1], 'RegionLocationMaxY1': [0, 2**32 - 1]}

def mutate_dicom(b, rng):
    "DICOM tags set to hostile values or deleted (the pixel data kept or cut), then bytes some of the time."
    import pydicom, warnings
    if rng.random() < 0.7:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                ds = pydicom.dcmread(io.BytesIO(b))
                for _ in range(int(rng.integers(1, 4))):
                    k = str(rng.choice(list(DICOM_FIELDS)))
                    if rng.random() < 0.15 and k in ds: del ds[k]; continue
                    v = DICOM_FIELDS[k][int(rng.integers(0, len(DICOM_FIELDS[k])))]
                    try: setattr(ds, k, v)
                    except Exception: pass
                regs = ds.get('SequenceOfUltrasoundRegions')
                if regs and rng.random() < 0.4:
                    r = regs[0]; k = str(rng.choice(list(REGION_FIELDS)))
                    try: setattr(r, k, REGION_FIELDS[k][int(rng.integers(0, len(REGION_FIELDS[k])))])
                    except Exception: pass
                if rng.random() < 0.1 and 'PixelData' in ds: ds.PixelData = ds.PixelData[:int(rng.integers(0, len(ds.PixelData)))]
                if rng.random() < 0.05 and 'PixelData' in ds: del ds.PixelData
                buf = io.BytesIO(); ds.save_as(buf, enforce_file_format=False); b = buf.getvalue()
        except Exception: pass                # a value pydicom will not write: bytes only
    return mutate_bytes(b, rng, head=1400) if rng.random() < 0.5 else b

HOSTILE = [None, True, 0, -1, 1e308, -1e308, float('nan'), float('inf'), 2**64, '', 'crown', 'nan', '1e999', '=1+1', 'é\x00', [], {}, [[]],
           [1], [1, 2, 3], [['a', 'b']], [[1e308, -1e308]], [[float('nan'), 0]], {'points': 1}, 'x' * 1000]

def mutate_json(b, rng):
    "A labelme document with values replaced by hostile ones of any type, keys and shapes dropped or repeated; then bytes some of the time."
    try: doc = json.loads(b)
    except ValueError: return mutate_bytes(b, rng)
    def paths(x, pre=()):
        yield pre
        if isinstance(x, dict): 
            for k, v in x.items(): yield from paths(v, pre + (k,))
        elif isinstance(x, list):
            for i, v in enumerate(x): yield from paths(v, pre + (i,))
    for _ in range(int(rng.integers(1, 5))):
        ps = [p for p in paths(doc) if p]
        if not ps: break
        p = ps[int(rng.integers(0, len(ps)))]
        parent = doc
        for k in p[:-1]: parent = parent[k]
        r = rng.random()
        if r < 0.15: del parent[p[-1]]
        elif r < 0.25 and isinstance(parent, list): parent.append(copy.deepcopy(parent[p[-1]]))
        elif r < 0.35 and p[-1] in ('label', 'shape_type'): parent[p[-1]] = str(rng.choice(['crown', 'rump', 'fetus', 'point', 'polygon', 'Crown ', 'FOETUS', 'circle']))
        else: parent[p[-1]] = copy.deepcopy(HOSTILE[int(rng.integers(0, len(HOSTILE)))])
    out = json.dumps(doc, allow_nan=True).encode()
    return mutate_bytes(out, rng, n=int(rng.integers(1, 4)), head=len(out)) if rng.random() < 0.3 else out

CELLS = ['', 'nan', 'NaN', '-0.2', '0', '1e308', '1e-320', 'inf', '-inf', '=cmd|"/c calc"!A1', '+1', '@x', '"', '""', ',', '\n',
         'é', '\x00', 'x' * 5000, '0x10', '1,5', ' 0.2 ', 'true', 'P1', 'x', 'x.png', '../x.png', '/etc/passwd']

def mutate_csv(b, rng):
    "A table with cells, headers, rows and separators changed; then bytes some of the time."
    lines = b.decode('utf-8', 'replace').splitlines()
    rows = [l.split(',') for l in lines]
    for _ in range(int(rng.integers(1, 5))):
        r = rng.random()
        if r < 0.5 and rows:
            i = int(rng.integers(0, len(rows))); 
            if rows[i]: rows[i][int(rng.integers(0, len(rows[i])))] = str(rng.choice(CELLS))
        elif r < 0.6 and len(rows) > 1: rows.insert(int(rng.integers(1, len(rows) + 1)), list(rows[int(rng.integers(1, len(rows)))]))
        elif r < 0.7 and rows: rows.pop(int(rng.integers(0, len(rows))))
        elif r < 0.8 and rows: rows[int(rng.integers(0, len(rows)))].append(str(rng.choice(CELLS)))
        elif r < 0.9 and rows: i = int(rng.integers(0, len(rows))); rows[i] = rows[i][:int(rng.integers(0, len(rows[i]) + 1))]
        else: rows.append([str(rng.choice(CELLS)) for _ in range(int(rng.integers(1, 9)))])
    sep = str(rng.choice([',', ',', ',', ';', '\t']))
    out = ('\r\n' if rng.random() < 0.1 else '\n').join(sep.join(r) for r in rows).encode('utf-8', 'surrogateescape')
    return mutate_bytes(out, rng, n=int(rng.integers(1, 4)), head=len(out)) if rng.random() < 0.3 else out

EXT = {'png': '.png', 'jpg': '.jpg', 'tif': '.tif', 'bmp': '.bmp', 'dcm': '.dcm', 'labelme': '.json', 'meta': '.csv', 'spacing': '.csv',
       'landmarks': '.csv'}

def hostile_name(i:int, ext:str, rng) -> str:
    "A file name: plain two times in three, else one of the kinds an archive holds."
    r = int(rng.integers(0, 12))
    if r < 8: return f'{i:05d}{ext}'
    return [os.fsdecode(f'caf\xe9_{i:05d}'.encode('latin-1')) + ext,       # Latin-1 bytes: not UTF-8
            f'=HYPERLINK("x")_{i:05d}{ext}', f'line\nbreak {i:05d}{ext}', 'a' * 200 + f'_{i:05d}{ext}'][r - 8]

def make_input(i:int, seed:int, seeds:dict) -> tuple[str, str, bytes]:
    "(kind, file name, bytes) of input `i`: the same for the same seed, whichever process makes it."
    rng = np.random.default_rng([seed, i])
    kinds = list(KINDS); kind = kinds[int(rng.choice(len(kinds), p=np.array(list(KINDS.values())) / sum(KINDS.values())))]
    base = {'meta': 'meta', 'spacing': 'spacing', 'landmarks': 'landmarks'}.get(kind, kind)
    src = seeds[base][int(rng.integers(0, len(seeds[base])))]
    if kind == 'png': data = mutate_png(src, rng)
    elif kind == 'dcm': data = mutate_dicom(src, rng)
    elif kind == 'labelme': data = mutate_json(src, rng)
    elif kind in ('meta', 'spacing', 'landmarks'): data = mutate_csv(src, rng)
    else: data = mutate_bytes(src, rng)
    ext = EXT[kind]
    if kind in IMAGE_KINDS and rng.random() < 0.05: ext = str(rng.choice(['.png', '.jpg', '.dcm', '.tiff', '']))   # a wrong or no extension
    return kind, hostile_name(i, ext, rng) if kind in IMAGE_KINDS else f'{i:05d}{ext}', data

# ---------------------------------------------------------------------------------------------------- the child
class Timeout(BaseException): pass

def one_line(e) -> bool: s = str(e); return bool(s.strip()) and '\n' not in s.strip() and 'Traceback' not in s

def check_reader(kind:str, path:Path, work:Path) -> tuple[str, str]:
    "(outcome, message) of one input through the reader that meets it in use."
    from crl_uls.data import DataError, check_dataset, read_spacing_csv, read_landmarks_csv
    from crl_uls.pipeline import prepare_input, frames_of, Measurement
    if kind in IMAGE_KINDS:
        for x in frames_of(path, 'best')[:3]:
            r = prepare_input(x)
            if isinstance(r, Measurement):
                return ('refused', r.error) if one_line(r.error) else ('traceback', f'not one line: {r.error!r}')
            name, img, sp, _, info = r
            if img.dtype != np.uint8 or img.ndim != 2 or min(img.shape) < 8: return 'traceback', f'read as {img.dtype} {img.shape}'
        return 'read', ''
    if kind in ('labelme', 'meta'):                              # check-data on a one-item data set
        ds = work/'ds'; shutil.rmtree(ds, ignore_errors=True)
        (ds/'images').mkdir(parents=True); shutil.copy(work.parent/'x.png', ds/'images'/'x.png')
        if kind == 'labelme': (ds/'annotations').mkdir(); shutil.copy(path, ds/'annotations'/'x.json')
        else: shutil.copy(path, ds/'meta.csv')
        try: items, faults = check_dataset(ds)
        except (DataError, ValueError, FileNotFoundError) as e:
            return ('refused', str(e)) if one_line(e) else ('traceback', f'not one line: {e!r}')
        odd = [m for m in faults['message'] if str(m).startswith('unexpected ')]     # check_dataset's catch-all: a fault it did not foresee
        if odd: return 'traceback', odd[0]
        errs = faults[faults.severity == 'error']                   # a warning (no spacing) leaves the item usable
        return ('refused', errs['message'].iloc[0]) if len(errs) else ('read', '')
    try:
        (read_spacing_csv if kind == 'spacing' else read_landmarks_csv)(path)
        return 'read', ''
    except (DataError, FileNotFoundError) as e:
        return ('refused', str(e)) if one_line(e) else ('traceback', f'not one line: {e!r}')

def check_predict(models:str, folder:Path, out:Path, report:bool) -> tuple[str, str]:
    "(outcome, message) of `crl-uls predict` on a folder of inputs: one row per file, exit status 0 or 1."
    import contextlib, csv
    from crl_uls.cli import main
    files = [f for f in folder.iterdir() if f.is_file()]
    args = ['predict', models, str(folder), '--out', str(out/'r.csv'), '--labelme', str(out/'labelme'), '--quiet']
    if report: args += ['--report', str(out/'report')]
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err): code = main(args)
    if code not in (0, 1): return 'rows lost', f'exit status {code}: {err.getvalue().strip()[-300:]}'
    with open(out/'r.csv', newline='', encoding='utf-8', errors='surrogateescape') as f: rows = list(csv.DictReader(f))
    if len(rows) != len(files): return 'rows lost', f'{len(rows)} rows for {len(files)} files'
    if report and not (out/'report'/'report.html').exists(): return 'rows lost', 'no report page'
    return 'read', ''

def injected(what:str):
    "What `--inject` asks of an input, to show the parent counts each failure: a crash, a native hang, a traceback."
    if what == 'crash': os.kill(os.getpid(), signal.SIGSEGV)
    if what == 'hang': signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM]); time.sleep(3600)   # deaf to its own alarm, as native code is
    if what == 'traceback': raise KeyError('injected')

def child(a):
    "Run inputs a.start, a.start + a.step, ... below a.end; one JSON line per event on stdout."
    import warnings
    warnings.simplefilter('ignore')
    os.environ.setdefault('CRL_ULS_THREADS', '1')
    from crl_uls.core import set_threads; set_threads()
    say = lambda **k: print(json.dumps(k), flush=True)
    def alarm(*_): raise Timeout()
    signal.signal(signal.SIGALRM, alarm)
    import crl_uls.cli as C                               # one model load per child, not one per predict run
    load, loaded = C._models, {}
    def cached(*x, **k):
        key = repr((x, sorted(k.items())))
        if key not in loaded: loaded[key] = load(*x, **k)
        return loaded[key]
    C._models = cached
    inject = {int(k): v for k, v in (x.split(':') for x in (a.inject or '').split(',') if x)}   # the tool's self-test
    root = Path(a.dir); seeds = read_seeds(root)
    work = root/f'w{a.start % a.step}'; work.mkdir(exist_ok=True)
    batch = work/'batch'
    def run_batch(ids):
        say(ev='begin', i=f'predict {ids[0]}-{ids[-1]}')
        out = work/'out'; shutil.rmtree(out, ignore_errors=True); out.mkdir()
        signal.alarm(a.timeout * 4)
        try: res = check_predict(a.models, batch, out, report=(ids[0] // a.step) % 5 == 0)
        except Timeout: res = ('hang', f'predict past {a.timeout * 4} s')
        except Exception as e: res = ('traceback', f'predict: {type(e).__name__}: {e}'[:500])
        finally: signal.alarm(0)
        say(ev='done', i=f'predict {ids[0]}-{ids[-1]}', kind='predict', outcome=res[0], msg=res[1][:300], files=ids)
        shutil.rmtree(batch, ignore_errors=True)
    shutil.rmtree(batch, ignore_errors=True); batch.mkdir()
    ids = []
    for i in range(a.start, a.end, a.step):
        kind, name, data = make_input(i, a.seed, seeds)
        d = batch if kind in IMAGE_KINDS else work
        path = d/name; path.write_bytes(data)
        say(ev='begin', i=i, kind=kind)
        t = time.perf_counter(); signal.alarm(a.timeout)
        try:
            if i in inject: injected(inject[i])
            res = check_reader(kind, path, work)
        except Timeout: res = ('hang', f'past {a.timeout} s')
        except Exception as e: res = ('traceback', f'{type(e).__name__}: {e}'[:500])
        finally: signal.alarm(0)
        say(ev='done', i=i, kind=kind, outcome=res[0], msg=str(res[1])[:300], s=round(time.perf_counter() - t, 3))
        if kind in IMAGE_KINDS and a.models: ids.append(i)
        else: path.unlink(missing_ok=True)
        if len(ids) >= a.batch: run_batch(ids); ids = []; batch.mkdir()
    if ids: run_batch(ids)
    say(ev='end')

# ---------------------------------------------------------------------------------------------------- the parent
def run(n:int, seed:int=0, workers:int=2, timeout:int=60, models:str|None=None, keep:Path|None=None, batch:int=40,
        progress:bool=True, start:int=0, inject:str|None=None) -> dict:
    "Fuzz `n` inputs (numbers `start` to `start + n - 1`) in `workers` child processes; the counts, the failures and the seconds."
    from crl_uls.core import free_cores
    root = Path(tempfile.mkdtemp(prefix='crl_uls_fuzz.'))
    t0 = time.time()
    try:
        seeds = make_seeds(root)
        counts = {k: collections.Counter() for k in list(KINDS) + ['predict']}
        failures, messages = [], collections.Counter()
        env = {**os.environ, 'CRL_ULS_THREADS': str(max(1, free_cores() // workers)), 'PYTHONWARNINGS': 'ignore'}
        todo = {w: start + w for w in range(workers)}          # each child's next input
        procs, done_n = {}, 0
        def spawn(w):
            cmd = [sys.executable, __file__, '--child', '--dir', str(root), '--start', str(todo[w]), '--end', str(start + n),
                   '--step', str(workers), '--seed', str(seed), '--timeout', str(timeout), '--batch', str(batch)] + (['--models', models] if models else []) \
                  + (['--inject', inject] if inject else [])
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(root/f'child{w}.err', 'ab'), env=env)
            procs[w] = {'p': p, 'buf': b'', 'begun': None, 'last': time.time()}
        def failed(w, i, kind, outcome, msg, files=None):
            failures.append({'input': i, 'kind': kind, 'outcome': outcome, 'message': msg})
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                for j in (files or ([i] if isinstance(i, int) else [])):
                    k, name, data = make_input(j, seed, seeds)
                    (keep/f'{j:05d}_{k}{Path(name).suffix or ".bin"}').write_bytes(data)
        for w in range(workers):
            if todo[w] < start + n: spawn(w)
        last_print = 0
        while procs:
            fds = {v['p'].stdout.fileno(): w for w, v in procs.items()}
            ready, _, _ = select.select(list(fds), [], [], 1.0)
            for fd in ready:
                w = fds[fd]; s = procs[w]
                chunk = os.read(fd, 65536)
                if chunk:
                    s['buf'] += chunk; s['last'] = time.time()
                    *lines, s['buf'] = s['buf'].split(b'\n')
                    for line in lines:
                        ev = json.loads(line)
                        if ev['ev'] == 'begin': s['begun'] = ev
                        elif ev['ev'] == 'done':
                            s['begun'] = None
                            counts[ev['kind']][ev['outcome']] += 1
                            if ev['kind'] != 'predict':
                                done_n += 1; todo[w] = ev['i'] + workers
                                if ev['outcome'] == 'refused': messages[re.sub(r'\d+', 'N', ev['msg'].split(': ', 1)[-1])[:90]] += 1
                            if ev['outcome'] in FAILURES: failed(w, ev['i'], ev['kind'], ev['outcome'], ev['msg'], ev.get('files'))
                    continue
                s['p'].wait()                                   # the child's output ended: it finished or died
                code, b = s['p'].returncode, s['begun']; del procs[w]
                if b is not None:                               # it died in the middle of an input
                    what = f"killed by signal {-code} ({signal.Signals(-code).name})" if code < 0 else f"exited with status {code}"
                    kind = b.get('kind', 'predict')
                    counts[kind]['crash'] += 1; failed(w, b['i'], kind, 'crash', what)
                    if isinstance(b['i'], int): done_n += 1; todo[w] = b['i'] + workers
                    else: todo[w] = int(b['i'].split()[1].split('-')[1]) + workers      # a predict batch: go on after it
                    if todo[w] < start + n: spawn(w)
                elif code != 0 and todo[w] < start + n:          # died between inputs (at start-up): say so once, do not loop
                    raise RuntimeError(f'fuzz child {w} exited with status {code} before input {todo[w]}: ' + (root/f'child{w}.err').read_text(errors='replace')[-1500:])
            for w, s in list(procs.items()):                    # a child silent past the limit is hung in native code
                lim = timeout * (4 if s['begun'] and not isinstance(s['begun']['i'], int) else 1) * 2 + 5
                if s['begun'] is not None and time.time() - s['last'] > lim:
                    s['p'].kill(); s['p'].wait(); b = s['begun']; del procs[w]
                    kind = b.get('kind', 'predict'); counts[kind]['hang'] += 1; failed(w, b['i'], kind, 'hang', f'no answer for {lim} s')
                    if isinstance(b['i'], int): done_n += 1; todo[w] = b['i'] + workers
                    else: todo[w] = int(b['i'].split()[1].split('-')[1]) + workers
                    if todo[w] < start + n: spawn(w)
            if progress and time.time() - last_print > 10:
                last_print = time.time(); print(f'fuzz: {done_n} of {n} inputs, {len(failures)} failures, {time.time() - t0:.0f} s', file=sys.stderr, flush=True)
        total = {o: sum(c[o] for k, c in counts.items() if k != 'predict') for o in OUTCOMES}
        return {'inputs': done_n, 'seed': seed, 'outcomes': total, 'by_kind': {k: dict(c) for k, c in counts.items()},
                'predict_batches': sum(counts['predict'].values()), 'failures': failures, 'seconds': round(time.time() - t0, 1),
                'common_refusals': messages.most_common(12)}
    finally:
        for s in procs.values() if 'procs' in dir() else []: s['p'].kill()
        shutil.rmtree(root, ignore_errors=True)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split('\n\n', 2)[2])
    ap.add_argument('--n', type=int, default=10_000, help='inputs to try (default: 10000)')
    ap.add_argument('--seed', type=int, default=0, help='the mutations\' seed: the same seed, the same inputs')
    ap.add_argument('--workers', type=int, default=2, help='child processes (default: 2)')
    ap.add_argument('--timeout', type=int, default=60, help='seconds an input may take (a batch through predict: 4 times that)')
    ap.add_argument('--batch', type=int, default=40, help='images per crl-uls predict run')
    ap.add_argument('--models', default=None, help="model folder for predict (default: the tiny example models); 'none': readers only")
    ap.add_argument('--keep', type=Path, default=Path('fuzz_failures'), help='where the inputs that failed are written')
    ap.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    for k in ('--dir', '--start', '--end', '--step', '--inject'): ap.add_argument(k, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        a.start, a.end, a.step = int(a.start), int(a.end), int(a.step); child(a); return 0
    if a.models is None:
        from crl_uls.train import example_models
        a.models = str(example_models('tiny'))
    elif a.models == 'none': a.models = None
    res = run(a.n, a.seed, a.workers, a.timeout, a.models, a.keep, a.batch)
    o = res['outcomes']
    print(f"fuzz: {res['inputs']} inputs in {res['seconds']:.0f} s ({', '.join(f'{k} {v}' for k, v in res['by_kind'].items() if k != 'predict' and v)}"
          f"); read {o['read']}, refused in one line {o['refused']}; crashes {o['crash']}, tracebacks {o['traceback']}, hangs {o['hang']}; "
          f"{res['predict_batches']} predict runs, {sum(res['by_kind']['predict'].get(k, 0) for k in FAILURES)} failed")
    for f in res['failures'][:20]: print(f"  {f['outcome']}: input {f['input']} ({f['kind']}): {f['message']}")
    if res['failures']: print(f"  inputs kept in {a.keep}")
    print('RESULT ' + json.dumps(res))
    return 1 if res['failures'] else 0

if __name__ == '__main__': sys.exit(main())
