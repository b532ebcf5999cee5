#!/usr/bin/env python3
"""How often a model folder's calipers name the head end right, on more held-out phantoms than the demo's 24 (research, not library).

    crl-uls synth T200 --n 200 --size 320x256 --seed 5 --classic
    python study/learners/naming_check.py MODELS T200 NAME [RECORD.json]

For each phantom the pipeline measures, the outline's two ends are named by the landmark model's points (as the pipeline
does), and again by those points averaged with the mirrored pass's; reported: the share named right and the landmark
model's own median crown / rump errors (mm). One JSON line per run is appended to RECORD (default: naming_check.json
beside this script).
"""
import json, math, sys, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
import numpy as np

def main(models, test, name, record=None):
    from crl_uls.pipeline import Pipeline
    from crl_uls.data import good_items
    from crl_uls.learners import read_item_image
    from crl_uls.landmarks import predict_landmarks
    from crl_uls.segmentation import geometric_points
    pipe, items = Pipeline.load(models), good_items(test, ('image', 'mask', 'points'))
    right = lambda c, r, t: math.dist(c, t[0]) + math.dist(r, t[1]) <= math.dist(c, t[1]) + math.dist(r, t[0])
    named, named_avg, err = [], [], []
    for r in items.to_dict('records'):
        img = read_item_image(r); m = pipe.predict(img, mm_per_px=r['mm_per_px'])
        if m.mask is None or not (m.mask > 0).any() or m.learned is None: continue
        t = np.array([[r['crown_x'], r['crown_y']], [r['rump_x'], r['rump_y']]])
        p = np.asarray(m.learned, float); q = (p + predict_landmarks(pipe.landmarks, [img], [m.mask], flip=True)[0]) / 2
        named.append(right(*geometric_points(m.mask, p[0], p[1]), t)); named_avg.append(right(*geometric_points(m.mask, q[0], q[1]), t))
        err.append(np.linalg.norm(p - t, axis=1) * r['mm_per_px'])
    man = json.loads((Path(models)/'manifest.json').read_text())
    rec = dict(name=name, models_preset=man.get('preset'), landmarks=man['models']['landmarks'].get('unet_mask_items', 0),
               test=str(test), phantoms=len(named), named_right=round(float(np.mean(named)), 4),
               named_right_mirror_avg=round(float(np.mean(named_avg)), 4),
               crown_rump_med_mm=np.median(np.array(err), 0).round(2).tolist(),
               created=time.strftime('%Y-%m-%dT%H:%M:%S%z'))
    rec['landmarks'] = f"{rec['landmarks']} U-Net-mask items added"
    print(json.dumps(rec))
    with open(record or Path(__file__).with_name('naming_check.json'), 'a') as f: f.write(json.dumps(rec) + '\n')

if __name__ == '__main__': main(*sys.argv[1:])
