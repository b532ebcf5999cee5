#!/usr/bin/env python3
"""Write data/sample: six small phantoms with every file type the readers take.

    python tools/make_sample.py

phantom_00001 has a JPEG image, phantom_00002 a DICOM image whose spacing is only in the file
(ultrasound regions), phantom_00003 a labelme file in the original study's form (unlabelled
points, image embedded, no image file); the rest are PNG with labelled labelme points.
"""
import base64, json, shutil
from pathlib import Path
import cv2, numpy as np, pandas as pd
from crl_uls.phantom import write_phantoms
from crl_uls.data import write_dicom, META_CSV

def main(out=Path(__file__).resolve().parent.parent/'data'/'sample'):
    if out.exists(): shutil.rmtree(out)
    meta = write_phantoms(out, 6, size=128, seed=2024, workers=1, progress=False)
    img = lambda i: out/'images'/f'phantom_{i:05d}.png'
    a = cv2.imread(str(img(1)), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(out/'images'/'phantom_00001.jpg'), a, [cv2.IMWRITE_JPEG_QUALITY, 95]); img(1).unlink()
    a = cv2.imread(str(img(2)), cv2.IMREAD_UNCHANGED)
    write_dicom(out/'images'/'phantom_00002.dcm', a, float(meta.loc[2, 'mm_per_px'])); img(2).unlink()
    meta.loc[2, 'mm_per_px'] = np.nan                      # its spacing lives in the DICOM only
    ann = out/'annotations'/'phantom_00003.json'
    doc = json.loads(ann.read_text())
    doc['imageData'] = base64.b64encode(img(3).read_bytes()).decode()
    doc['imagePath'] = 'phantom_00003.jpg'                 # as labelme saved it elsewhere: no such file here
    for s in doc['shapes']: s['label'] = ''
    ann.write_text(json.dumps(doc, indent=2) + '\n'); img(3).unlink()
    meta.to_csv(out/META_CSV, index=False)
    print(f"wrote {out}: {sorted(p.name for p in (out/'images').iterdir())}")

if __name__ == '__main__': main()
