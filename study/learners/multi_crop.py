"""The landmark model's own points averaged over crops of several margins, each with its mirror image (research, not library).

    python study/learners/multi_crop.py MODELS TEST [TEST ...] > multi_crop.json

Each TEST phantom is segmented by MODELS' U-Net (as the pipeline does); the landmark model then sees the crop around
that mask at margins (`pad`) other than the one it trained with, and each crop's mirror image. Printed per set and
combination: median crown / rump radial error (mm) and the share of images whose averaged points name the head end right.
"""
import sys, json, datetime, warnings
warnings.filterwarnings('ignore')
import numpy as np
from crl_uls.pipeline import Pipeline
from crl_uls.landmarks import predict_landmarks
from mirror_points import segmented, scored   # this folder is on sys.path when run

if __name__ == '__main__':
    pipe = Pipeline.load(sys.argv[1]); L = pipe.landmarks; ex = L.crl_uls.extra; trained = ex.get('pad', 0.25)
    out = {'models': sys.argv[1], 'trained_pad': trained, 'machine': '2-core development machine, no GPU',
           'created': str(datetime.date.today()), 'sets': {}}
    for folder in sys.argv[2:]:
        ims, masks, T, s = segmented(pipe, folder); P = {}
        for pad in (0.15, 0.2, 0.25, 0.3, 0.35):
            ex['pad'] = pad
            for f in (False, True): P[(pad, f)] = predict_landmarks(L, ims, masks, flip=f)
        ex['pad'] = trained
        rows = {}
        for name, keys in ((f'pad {trained}, one pass', [(trained, False)]),
                           *[(f'pad {p}, with the mirror image', [(p, False), (p, True)]) for p in (0.15, 0.2, 0.25, 0.3, 0.35)],
                           ('pads 0.2, 0.25, 0.3, each with the mirror image', [(p, f) for p in (0.2, 0.25, 0.3) for f in (False, True)]),
                           ('pads 0.15 to 0.35, each with the mirror image', list(P))):
            rows[name] = scored(np.mean([P[k] for k in keys], 0), T, s)
        out['sets'][folder] = {'images_with_a_mask': len(ims), **rows}
    print(json.dumps(out, indent=1))
