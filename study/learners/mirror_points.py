"""The landmark model's own points with and without the mirrored pass averaged in (research, not library).

    python study/learners/mirror_points.py MODELS TEST [TEST ...] > mirror_points.json

Each TEST phantom is segmented by MODELS' U-Net (as the pipeline does); the landmark model then gives crown and rump
on the image and on its mirror image (mirrored back). Printed per set: median crown / rump radial error (mm) and the
share of images whose points name the head end right, for the first pass alone, the two passes' average, and the
average unless the mirrored pass swapped the ends (what the pipeline does).
"""
import sys, json, datetime, warnings
warnings.filterwarnings('ignore')
import numpy as np
from crl_uls.pipeline import Pipeline
from crl_uls.data import good_items
from crl_uls.learners import read_item_image
from crl_uls.landmarks import predict_landmarks

d = lambda u, v: np.linalg.norm(u - v, axis=-1)

def segmented(pipe, folder):
    "The phantoms of `folder` the pipeline's U-Net finds a fetus in: their images, the masks, the true (crown, rump) px, the spacings."
    recs = good_items(folder, ('image', 'points')).to_dict('records'); imgs = [read_item_image(r) for r in recs]
    res = pipe.measure_batch([(r['id'], im, r['mm_per_px']) for r, im in zip(recs, imgs)])
    keep = [i for i, m in enumerate(res) if m.mask is not None and (m.mask > 0).any()]
    T = np.array([[[recs[i]['crown_x'], recs[i]['crown_y']], [recs[i]['rump_x'], recs[i]['rump_y']]] for i in keep])
    return [imgs[i] for i in keep], [res[i].mask for i in keep], T, np.array([recs[i]['mm_per_px'] for i in keep])

def scored(P, T, s):
    "Median crown / rump radial error (mm) of points P (N, 2, 2) against T, and the share naming the head end right."
    e = d(P, T) * s[:, None]
    named = d(P[:, 0], T[:, 0]) + d(P[:, 1], T[:, 1]) < d(P[:, 0], T[:, 1]) + d(P[:, 1], T[:, 0])
    return {'crown_mm': round(float(np.median(e[:, 0])), 2), 'rump_mm': round(float(np.median(e[:, 1])), 2),
            'named_right_share': round(float(named.mean()), 3)}

def unless_swapped(a, b):
    "First-pass points `a` averaged with mirrored-pass points `b` (N, 2, 2), except where `b` swapped the ends (there `a`), as the pipeline does; and which swapped."
    swapped = d(a[:, 0], b[:, 0]) + d(a[:, 1], b[:, 1]) > d(a[:, 0], b[:, 1]) + d(a[:, 1], b[:, 0])
    return np.where(swapped[:, None, None], a, (a + b) / 2), swapped

if __name__ == '__main__':
    pipe = Pipeline.load(sys.argv[1]); out = {'models': sys.argv[1], 'machine': '2-core development machine, no GPU',
                                              'created': str(datetime.date.today()), 'sets': {}}
    for folder in sys.argv[2:]:
        ims, masks, T, s = segmented(pipe, folder)
        a, b = predict_landmarks(pipe.landmarks, ims, masks), predict_landmarks(pipe.landmarks, ims, masks, flip=True)
        kept, swapped = unless_swapped(a, b)
        row = {'images_with_a_mask': len(ims), 'mirrored_pass_swapped': int(swapped.sum())}
        for name, P in (('first_pass', a), ('average', (a + b) / 2), ('average_unless_swapped', kept)):
            row[name] = scored(P, T, s)
        out['sets'][folder] = row
    print(json.dumps(out, indent=1))
