#!/usr/bin/env python3
"""The guide's picture of the report page and its cine-loop row: a small archive measured with `crl-uls predict --report`.

    python study/guide/report_page.py MODELS      # -> study/guide/report_page.png, cine_rows.csv, report_page.json

The archive: three held-out phantoms as DICOM files (spacing inside), a blank scan (no fetus: CHECK), and a cine loop of five
frames (one fetus of 80 days, flexing and stretching) with a StudyDate and a PatientID, as a scanner stores them.
"""
import csv, json, subprocess, sys, tempfile, time
from datetime import datetime, timezone
from pathlib import Path
import numpy as np

HERE = Path(__file__).resolve().parent

def archive(d:Path) -> Path:
    "Write the archive to measure; return its folder."
    from crl_uls.phantom import make_phantom
    from crl_uls.data import write_dicom
    d.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        p = make_phantom(seed=77, index=i, size=(320, 256), features=False)
        write_dicom(d/f'scan_{i}.dcm', p.image, p.mm_per_px, tags={'StudyDate': '20261116', 'PatientID': f'P{i:03d}'})
    write_dicom(d/'blank.dcm', np.zeros((256, 320), np.uint8), 0.25, tags={'StudyDate': '20261116', 'PatientID': 'P009'})
    poses = ['hyperflexed', 'neutral', 'neutral', 'hyperextended', 'hyperflexed']    # one fetus of 80 days, moving
    frames = [make_phantom(seed=78, index=k, size=(320, 256), features=False, ga_days=80, flexion=f) for k, f in enumerate(poses)]
    loop = np.stack([f.image for f in frames])
    write_dicom(d/'loop.dcm', loop, frames[0].mm_per_px, tags={'StudyDate': '20261120', 'PatientID': 'P004'})
    return d

def shoot(page_file:Path, png:Path):
    "A screenshot of the report page, opened offline in the system's Chromium."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path='/usr/bin/chromium', headless=True, args=['--no-sandbox', '--disable-gpu'])
        ctx = b.new_context(viewport={'width': 1000, 'height': 900})
        ctx.route('http://**/*', lambda r: r.abort()); ctx.route('https://**/*', lambda r: r.abort())
        page = ctx.new_page(); page.goto(page_file.resolve().as_uri(), wait_until='load')
        page.screenshot(path=str(png), full_page=False)
        b.close()

def main(models:str):
    from crl_uls.pipeline import versions, file_sha256
    from crl_uls.core import run_device
    with tempfile.TemporaryDirectory() as t:
        t = Path(t); a = archive(t/'archive')
        cmd = [str(Path(sys.executable).parent/'crl-uls'), 'predict', models, str(a), '--out', str(t/'results.csv'), '--report', str(t/'review'), '--quiet']
        t0 = time.time(); r = subprocess.run(cmd, capture_output=True, text=True); dt = time.time() - t0
        if r.returncode not in (0, 1): sys.exit(r.stderr)
        shoot(t/'review'/'report.html', HERE/'report_page.png')
        rows = list(csv.DictReader(open(t/'results.csv')))
        keep = ['path', 'frame', 'frames_measured', 'frames_accepted', 'crl_mm', 'ga', 'scan_date', 'due_date', 'patient_id', 'accepted', 'p_ok']
        with open(HERE/'cine_rows.csv', 'w', newline='') as f:
            w = csv.DictWriter(f, keep); w.writeheader()
            for row in rows: w.writerow({k: (Path(row[k]).name if k == 'path' else row[k]) for k in keep})
    man = json.loads((Path(models)/'manifest.json').read_text())
    rec = {'command': f"python study/guide/report_page.py {models}", 'predict': ' '.join(['crl-uls', 'predict'] + ['MODELS', 'ARCHIVE'] + cmd[4:5] + ['results.csv', '--report', 'review', '--quiet']),
           'models': {'preset': man.get('preset'), 'manifest_sha256': file_sha256(Path(models)/'manifest.json'), 'crl_uls_commit': man['versions'].get('crl_uls_commit')},
           'summary_line': r.stderr.strip().splitlines()[-1], 'seconds': round(dt, 1), 'device': run_device(),
           'created': datetime.now(timezone.utc).isoformat(timespec='seconds'), 'versions': versions()}
    (HERE/'report_page.json').write_text(json.dumps(rec, indent=1) + '\n')
    print(f"wrote {HERE/'report_page.png'}, cine_rows.csv and report_page.json; {rec['summary_line']}")

if __name__ == '__main__': main(sys.argv[1])
