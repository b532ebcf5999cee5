"""The levers of the Good/Bad and landmark learners, each trained on its own beside one fixed U-Net (research, not library).

    python study/learners/levers.py WORK "run_landmarks('L_crop_masked_unet', 'masked', 'crop', init=enc)" ...

WORK holds `train600/` and `test200/` (the `cpu` preset's phantoms: `crl-uls synth WORK/train600 --n 600 --seed 2026`,
`crl-uls synth WORK/test200 --n 200 --size 320x256 --seed 2027`) and `base_cpu/` (a `cpu`-preset folder trained on
WORK/train600 with the library before these levers: its U-Net is the fixed one). Each argument is Python run with
`enc` (the base U-Net's encoder) defined; `run_quality` and `run_landmarks` train one learner as `train_models` would
(the same split, the same cross-fitted U-Net candidates, cached in WORK on the first run), score it on the held-out
phantoms of WORK/test200 and append one JSON line to WORK/levers.jsonl:

- Good/Bad: ROC AUC on held-out candidates (`quality_items` of the test set, 6 a phantom, seed 7, as the study), and on
  the base U-Net's own masks of the test set (label: the CRL of the mask's outline within tolerance);
- landmarks: the median crown and rump radial errors (mm) with the true masks and with the U-Net's masks, the share of
  images whose outline ends they name right, and the ROC AUC of their disagreement with the outline's ends for a mask
  whose CRL is out of tolerance.

The record of the runs behind the training chapter's *Levers* table is `study/learners/levers.json`.
"""
import json, math, os, pickle, sys, time, warnings
from pathlib import Path
import numpy as np, pandas as pd
warnings.filterwarnings('ignore')
from sklearn.metrics import roc_auc_score
from crl_uls.core import set_threads, seed_everything
from crl_uls.data import good_items, assign_split, read_image, read_mask
from crl_uls.learners import read_item_image, read_item_mask, learner_view, quality_dls, landmark_dls, batch_preds
from crl_uls.quality import quality_items, label_candidate, quality_learner
from crl_uls.landmarks import landmark_learner, predict_landmarks, landmark_errors
from crl_uls.segmentation import predict_masks, geometric_points
from crl_uls.presets import PRESETS
from crl_uls.train import _oof_masks

W = Path(sys.argv[1]) if len(sys.argv) > 1 else Path('.')
S = PRESETS['cpu']
FOLD_EPOCHS = int(os.environ.get('FOLD_EPOCHS', 10))     # the cross-fitted U-Nets' epochs (the first runs: 10; the cpu preset now: 6)

def _record(rec):
    print(json.dumps(rec), flush=True)
    with open(W/'levers.jsonl', 'a') as f: f.write(json.dumps(rec) + '\n')

def setup():
    "The training split as `train_models` makes it, the test items, and (cached) the cross-fitted U-Net masks and the base U-Net's masks."
    items = assign_split(good_items(W/'train600', ('image', 'mask', 'points')), 0.2, 0)
    titems = good_items(W/'test200', ('image', 'mask', 'points'))
    cache = W/('cache_base_cpu.pkl' if FOLD_EPOCHS == 10 else f'cache_base_cpu_fe{FOLD_EPOCHS}.pkl')
    if not cache.exists():
        from fastai.learner import load_learner
        t0 = time.time()
        oof = _oof_masks(items, S['segmentation'], 2, FOLD_EPOCHS, 0, True)   # 2 folds x 10 epochs: the preset of the first runs; FOLD_EPOCHS=6: today's
        seg = load_learner(W/'base_cpu'/'segmentation.pkl')
        va = items[items.is_valid]
        C = dict(oof=oof, oof_seconds=time.time() - t0,
                 vmask=dict(zip(va.id, predict_masks(seg, [read_item_image(r) for r in va.to_dict('records')], 8))),
                 tmask=dict(zip(titems.id, predict_masks(seg, [read_item_image(r) for r in titems.to_dict('records')], 8))))
        cache.write_bytes(pickle.dumps(C))
    return items, titems, pickle.loads(cache.read_bytes())

def run_quality(name, view='ends', n=150, per_image=2, epochs=6, size=64, lr=2e-3, bs=16, init=None, aug=True, seed=0):
    "One Good/Bad learner: candidates as `train_models` makes them, trained, then scored on held-out candidates and on the U-Net's own masks."
    seed_everything(seed)
    va, tr = items[items.is_valid], items[~items.is_valid]
    unet = {i: list(v) for i, v in C['oof'].items()}
    for i, m in C['vmask'].items(): unet[i] = [('unet', m)]
    src = pd.concat([tr.sample(n=min(len(tr), n), random_state=seed), va])
    cands = quality_items(src, W/'cands'/name, per_image, seed, unet)
    t0 = time.time()
    learn = quality_learner(quality_dls(cands, size=size, bs=bs, seed=seed, view=view, aug=aug, num_workers=0), pretrained=False, view=view)
    if init is not None: learn.model[0].load_state_dict(init)
    with learn.no_bar(): learn.fit_one_cycle(epochs, lr)
    train_s = time.time() - t0
    good = lambda gs, ms: batch_preds(learn, [learner_view(g, m, 'channels', view, 0.25, size)[0] for g, m in zip(gs, ms)], 32)[:, 1].numpy()
    tc = quality_items(titems, W/'cands'/(name + '_test'), 6, seed=7)
    y = (tc.quality == 'good').to_numpy()
    pg = good([read_image(f) for f in tc.image], [read_mask(f) for f in tc['mask']])
    recs = titems.to_dict('records')
    masks = [C['tmask'][r['id']] for r in recs]
    ok = np.array([(m > 0).any() and label_candidate(m, read_item_mask(r['mask']), (r['crown_x'], r['crown_y']), (r['rump_x'], r['rump_y']),
                                                     r['mm_per_px'])[0] == 'good' for r, m in zip(recs, masks)])
    pp = good([read_item_image(r) for r in recs], masks)
    _record(dict(name=name, stage='quality', view=view, n=n, per_image=per_image, epochs=epochs, size=size, lr=lr, aug=aug,
                 init=init is not None, candidates=len(cands), train_seconds=round(train_s, 1),
                 test_cand_auc=float(roc_auc_score(y, pg)), pipeline_auc=float(roc_auc_score(ok, pp)), pipeline_bad=int((~ok).sum())))

def train_masks():
    "The base U-Net's masks of the training images (cached): what `train_models` adds for `landmarks.unet_masks`."
    cache = W/'cache_base_cpu_train_masks.pkl'
    if not cache.exists():
        from fastai.learner import load_learner
        seg, tr = load_learner(W/'base_cpu'/'segmentation.pkl'), items[~items.is_valid]
        cache.write_bytes(pickle.dumps(dict(zip(tr.id, predict_masks(seg, [read_item_image(r) for r in tr.to_dict('records')], 8)))))
    return pickle.loads(cache.read_bytes())

def run_landmarks(name, input='masked', view='crop', epochs=20, size=64, lr=3e-3, bs=8, init=None, seed=0, unet=False, loss='mse', avg=0, body=1.0, dropout=True):
    "One landmark learner on the training items' true masks (`unet`: and the base U-Net's good masks of them, as `landmarks.unet_masks`), scored with the test set's true masks and the U-Net's; `loss` 'mse' (the library's) or 'l1'; `avg` > 0: also scored with its weights averaged over the last `avg` epochs (a second record, NAME_avgN); `body`: the body's learning rate as a share of the head's; `dropout` False: the head without dropout."
    from crl_uls.train import _with_unet_masks, Snapshots
    from fastai.vision.all import nn
    seed_everything(seed)
    lm_items = _with_unet_masks(items, train_masks(), W/'cands'/(name + '_lm')) if unet else items
    t0 = time.time()
    learn = landmark_learner(landmark_dls(lm_items, size=size, bs=bs, seed=seed, input=input, view=view, num_workers=0),
                             pretrained=False, input=input, view=view, loss=loss)
    if not dropout:
        for m in learn.model.modules():
            if isinstance(m, nn.Dropout): m.p = 0.0
    if init is not None: learn.model[0].load_state_dict(init)
    snaps = Snapshots(range(epochs - avg, epochs))
    with learn.no_bar(): learn.fit_one_cycle(epochs, lr if body == 1 else slice(lr * body, lr), cbs=[snaps] if avg else [])
    out = dict(name=name, stage='landmarks', input=input, view=view, epochs=epochs, size=size, lr=lr, init=init is not None, unet_masks=unet,
               loss=loss, seed=seed, body_lr_share=body, head_dropout=dropout, train_seconds=round(time.time() - t0, 1))
    _record(score_landmarks(learn, out, unet))
    if avg:
        learn.model.load_state_dict(snaps.mean())            # as `_fit` does with `average`
        _record(score_landmarks(learn, {**out, 'name': f'{name}_avg{avg}', 'averaged_epochs': avg}, unet))

def score_landmarks(learn, out, unet):
    "`out` with the landmark learner's figures on the test set, with the true masks and with the base U-Net's."
    recs = titems.to_dict('records')
    imgs = [read_item_image(r) for r in recs]
    true = titems[['crown_x', 'crown_y', 'rump_x', 'rump_y']].to_numpy(float).reshape(-1, 2, 2)
    for which, masks in (('true_masks', [read_item_mask(r['mask']) for r in recs]), ('unet_masks', [C['tmask'][r['id']] for r in recs])):
        keep = np.array([(m > 0).any() for m in masks])
        ks = [i for i in range(len(recs)) if keep[i]]
        pred = predict_landmarks(learn, [imgs[i] for i in ks], [masks[i] for i in ks])
        e = landmark_errors(pred, true[keep], titems.mm_per_px[keep])
        right, gaps, oks = [], [], []
        for p, i in zip(pred, ks):
            t, m, r = true[i], masks[i], recs[i]
            gc, gr = geometric_points(m, p[0], p[1])
            right.append(math.dist(gc, t[0]) + math.dist(gr, t[1]) <= math.dist(gc, t[1]) + math.dist(gr, t[0]))
            gaps.append(max(math.dist(p[0], gc), math.dist(p[1], gr)) / max(math.dist(gc, gr), 1e-6))
            oks.append(label_candidate(m, read_item_mask(r['mask']), tuple(t[0]), tuple(t[1]), r['mm_per_px'])[0] == 'good')
        oks = np.array(oks)
        out[which] = dict(crown_med=float(e.crown_err_mm.median()), rump_med=float(e.rump_err_mm.median()), named_right=float(np.mean(right)),
                          n=int(keep.sum()), gap_auc=float(roc_auc_score(~oks, gaps)) if 0 < oks.sum() < len(oks) else None)
        if unet:                                    # and as the pipeline gives them: averaged with the mirrored pass unless it swapped the ends
            from mirror_points import scored, unless_swapped
            b = predict_landmarks(learn, [imgs[i] for i in ks], [masks[i] for i in ks], flip=True)
            out[which]['mirror_averaged'] = scored(unless_swapped(np.asarray(pred), b)[0], true[keep], titems.mm_per_px[keep].to_numpy())
    return out

def vgg_pretext(epochs=5, size=64, lr=3e-3, seed=0):
    "An in-domain start for the VGG16: a U-Net with a VGG16-bn encoder trained on the segmentation; its encoder's weights."
    import torchvision.models as tvm
    from fastai.vision.all import unet_learner, Dice
    from crl_uls.learners import seg_dls
    from crl_uls.segmentation import CEDiceLoss
    seed_everything(seed); t0 = time.time()
    l = unet_learner(seg_dls(items, size=size, bs=8, seed=seed, num_workers=0), tvm.vgg16_bn, pretrained=False, n_out=2,
                     loss_func=CEDiceLoss(), metrics=[Dice()], last_cross=False)
    with l.no_bar(): l.fit_one_cycle(epochs, lr)
    _record(dict(name=f'vgg_pretext_e{epochs}_s{size}', stage='pretext', seconds=round(time.time() - t0, 1), dice=float(l.validate()[1])))
    return {k: v.detach().clone() for k, v in l.model[0].state_dict().items()}

if __name__ == '__main__':
    set_threads(2)
    items, titems, C = setup()
    from fastai.learner import load_learner
    enc = load_learner(W/'base_cpu'/'segmentation.pkl').model[0].state_dict()
    for job in sys.argv[2:]: exec(job)
