"Training through the command line: presets read when training starts, overrides, and what a log shows."
import json, os
from conftest import train_tiny

def test_train_with_a_preset_after_every_stage_module_was_imported(tmp_path, capsys):
    "Stage modules imported first (as a notebook or a script would) do not freeze the settings: the preset is read at train time."
    import crl_uls.learners, crl_uls.segmentation, crl_uls.quality, crl_uls.landmarks, crl_uls.pipeline, crl_uls.train  # noqa: F401
    from crl_uls.cli import main
    from crl_uls.presets import PRESETS
    from crl_uls.phantom import write_phantoms
    write_phantoms(tmp_path/'data', 16, 64, seed=2, workers=1, progress=False)
    code = main(['train', str(tmp_path/'data'), '--out', str(tmp_path/'m'), '--preset', 'tiny', '--epochs', 'landmarks=2', '--bs', 'quality=4',
                 '--epochs', 'segmentation=3'])
    out, err = capsys.readouterr()
    assert code == 0, err
    man = json.loads((tmp_path/'m'/'manifest.json').read_text())
    assert man['preset'] == 'tiny' and man['overrides'] == {'landmarks': {'epochs': 2}, 'quality': {'bs': 4}, 'segmentation': {'epochs': 3}}
    for st in ('segmentation', 'quality', 'landmarks'):
        want = {**PRESETS['tiny'][st], **man['overrides'].get(st, {})}
        assert {k: man['models'][st][k] for k in want} == want, st
    assert man['models']['landmarks']['epochs'] == 2 != PRESETS['tiny']['landmarks']['epochs']     # the override won
    import os                                                     # training used the session's chosen thread count, and says so
    assert man['threads'] == int(os.environ['CRL_ULS_THREADS'])
    assert 'preset tiny' in out
    # a log (stderr is not a terminal here) gets one line per epoch, never a progress bar's redraws
    assert '\r' not in err, repr(err[:300])
    assert 'segmentation epoch 3/3: train_loss' in err and 'landmarks epoch 2/2:' in err, err[-1000:]

def test_same_seed_same_metrics(tmp_path):
    "Training on the CPU is deterministic: the same seed gives the same validation figures."
    one = {'all': {'epochs': 1}, 'quality': {'fold_epochs': 1}}
    a, b = train_tiny(tmp_path/'a', seed=3, overrides=one, n=16), train_tiny(tmp_path/'b', seed=3, overrides=one, n=16)
    for st in ('segmentation', 'quality', 'landmarks'):
        assert a['models'][st]['valid'] == b['models'][st]['valid'], st

def test_two_processes_train_one_model_folder(tmp_path):
    """`torchrun` starts two CPU processes (gloo): both train every stage in fastai's `distrib_ctx`, rank 0 alone writes
    one model folder, it verifies against its manifest, and `crl-uls predict` measures with it."""
    import csv
    from conftest import venv_tool, run
    from crl_uls.phantom import write_phantoms
    from crl_uls.pipeline import verify_models, STAGES
    write_phantoms(tmp_path/'data', 16, 64, seed=2, workers=1, progress=False)
    cheap = ['--set', 'arch=resnet18', '--set', 'quality.arch=vgg16_bn', '--epochs', '1', '--epochs', 'segmentation=2',
             '--set', 'quality.fold_epochs=2']                         # the machinery, not the accuracy: about a minute on 2 cores
    r = run(venv_tool('torchrun'), '--standalone', '--nproc_per_node', '2', venv_tool('crl-uls'), 'train', str(tmp_path/'data'),
            '--out', str(tmp_path/'m'), '--preset', 'tiny', *cheap, env={**os.environ, 'CRL_ULS_THREADS': '1'})
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count('wrote ') == 1 and '2 processes (gloo)' in r.stdout, r.stdout          # rank 0 reports, once
    assert r.stderr.count('segmentation epoch 2/2:') == 1, r.stderr[-2000:]                     # one log line per epoch, rank 0's
    man = json.loads((tmp_path/'m'/'manifest.json').read_text())
    assert (man['world_size'], man['backend']) == (2, 'gloo')
    for st in ('segmentation', 'quality', 'landmarks'):                  # the effective batch, split between the two processes
        assert (man['models'][st]['bs'], man['models'][st]['bs_per_process']) == (8, 4), st
    assert man['models']['quality']['candidates']['unet'] > 0          # the cross-fitted U-Nets' outputs reached the candidates
    assert sorted(p.name for p in (tmp_path/'m').iterdir()) == sorted(['acceptance.json', 'manifest.json',
                                                                       *(f'{st}{e}' for st in STAGES for e in ('.pkl', '.safetensors', '.json'))])
    verify_models(tmp_path/'m')
    imgs = sorted((tmp_path/'data'/'images').iterdir())[:3]
    p = run(venv_tool('crl-uls'), 'predict', str(tmp_path/'m'), *map(str, imgs), '--out', str(tmp_path/'r.csv'), '--quiet')
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(open(tmp_path/'r.csv')))
    assert [r['path'] for r in rows] == list(map(str, imgs)) and not any(r['error'] for r in rows)

def test_fine_tune_from_a_model_folder(tmp_path, tiny_models, capsys):
    """`crl-uls train --init MODELS` starts every learner from that folder's weights and fine-tunes them: the new folder
    verifies, its manifest names where it started, and its weights stay near the starting ones (a fresh start lies far away)."""
    import torch
    from fastai.learner import load_learner
    from crl_uls.cli import main
    from crl_uls.phantom import write_phantoms
    from crl_uls.pipeline import verify_models, file_sha256
    write_phantoms(tmp_path/'data', 16, 64, seed=5, workers=1, progress=False, domain='shifted')
    code = main(['train', str(tmp_path/'data'), '--out', str(tmp_path/'m'), '--preset', 'tiny', '--init', str(tiny_models),
                 '--epochs', '1', '--quiet'])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    assert 'fine-tuned from' in out and 'random initialisation' not in err          # no ImageNet warning: it starts from the folder
    man = verify_models(tmp_path/'m')
    was = json.loads((tiny_models/'manifest.json').read_text())
    assert man['init'] == {'folder': str(tiny_models.resolve()), 'preset': 'tiny', 'manifest_sha256': file_sha256(tiny_models/'manifest.json'),
                           'frozen_epochs': 1, 'kept': []}
    assert 'unet_mid' not in man['models']['quality']['candidates']                 # candidates from the folder's U-Net, no cross-fitting
    for st in ('segmentation', 'quality', 'landmarks'):
        assert man['models'][st]['weights'] == 'init' and man['models'][st]['arch'] == was['models'][st]['arch'], st
        a, b = (load_learner(f/f'{st}.pkl', cpu=True).model.state_dict() for f in (tiny_models, tmp_path/'m'))
        k = next(k for k, v in a.items() if v.dim() == 4)                             # the first convolution of the body
        assert (b[k] - a[k]).norm() < 0.3*a[k].norm(), (st, float((b[k] - a[k]).norm() / a[k].norm()))
    assert main(['train', str(tmp_path/'data'), '--out', str(tmp_path/'x'), '--preset', 'tiny', '--init', str(tmp_path/'data'), '--quiet']) == 2
    assert 'not a model folder' in capsys.readouterr().err

def test_fine_tune_keeps_the_learners_it_is_told_to(tmp_path, tiny_models, capsys):
    """`--init MODELS --keep quality landmarks`: those two files are the folder's, byte for byte, and the manifest says so;
    the U-Net is fine-tuned, the acceptance fitted anew, and the folder measures; --keep without --init, or of every
    learner, is refused with one line."""
    from crl_uls.cli import main
    from crl_uls.phantom import write_phantoms, make_phantom
    from crl_uls.pipeline import verify_models, file_sha256, Pipeline
    write_phantoms(tmp_path/'data', 16, 64, seed=5, workers=1, progress=False, domain='shifted')
    code = main(['train', str(tmp_path/'data'), '--out', str(tmp_path/'m'), '--preset', 'tiny', '--init', str(tiny_models),
                 '--keep', 'quality', 'landmarks', '--epochs', '1', '--quiet'])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    assert 'quality: ' in out and 'kept from the --init folder unchanged' in out and 'kept: quality, landmarks' in out, out
    man = verify_models(tmp_path/'m')
    assert man['init']['kept'] == ['quality', 'landmarks'] and man['models']['segmentation']['weights'] == 'init'
    for st in ('quality', 'landmarks'):
        assert file_sha256(tmp_path/'m'/f'{st}.pkl') == file_sha256(tiny_models/f'{st}.pkl') and man['models'][st]['weights'] == 'kept', st
    assert file_sha256(tmp_path/'m'/'segmentation.pkl') != file_sha256(tiny_models/'segmentation.pkl')     # trained
    fit = man['acceptance_fit']                                                   # fitted on the new held-out set and calibration phantoms
    assert fit['held_out_items'] == man['training_data']['valid_items']
    assert man['held_out']['images'] == fit['held_out_items'] + fit['calibration']['phantoms']      # every one measured (a CRL or not)
    q = make_phantom(seed=9, index=0, size=(96, 80))
    assert Pipeline.load(tmp_path/'m', points='geometric').predict(q.image, q.mm_per_px).mask is not None
    for bad, says in ((['--keep', 'quality'], 'give init too'),
                      (['--init', str(tiny_models), '--keep', 'segmentation', 'quality', 'landmarks'], 'nothing would be trained')):
        assert main(['train', str(tmp_path/'data'), '--out', str(tmp_path/'x'), '--preset', 'tiny', *bad, '--quiet']) == 2
        assert says in capsys.readouterr().err

def test_fine_tune_adapts_the_unet_to_a_new_scanners_images(tmp_path, tiny_models, capsys):
    """`--adapt DATASET`: the written U-Net's BatchNorm statistics are those of the new scanner's unlabelled images (its
    first BatchNorm layer's running mean is the mean of what that layer gets from them and their mirror images), the
    manifest records it with the held-out figures before and after; with every learner kept only the statistics change
    and every item is held out; a folder with no images is refused."""
    import shutil, numpy as np, torch
    from fastai.learner import load_learner
    from crl_uls.cli import main
    from crl_uls.data import read_image
    from crl_uls.learners import batch_preds
    from crl_uls.phantom import write_phantoms
    from crl_uls.pipeline import verify_models, file_sha256
    write_phantoms(tmp_path/'data', 16, 64, seed=5, workers=1, progress=False, domain='shifted')
    write_phantoms(tmp_path/'scans', 6, 64, seed=6, workers=1, progress=False, domain='shifted')
    for f in ('masks', 'annotations', 'parts', 'meta.csv'):          # unlabelled: images only
        shutil.rmtree(tmp_path/'scans'/f, ignore_errors=True); (tmp_path/'scans'/f).unlink(missing_ok=True)
    code = main(['train', str(tmp_path/'data'), '--out', str(tmp_path/'m'), '--preset', 'tiny', '--init', str(tiny_models),
                 '--keep', 'quality', 'landmarks', '--epochs', '1', '--adapt', str(tmp_path/'scans'), '--quiet'])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    assert 'BatchNorm statistics adapted to the 6 images' in out, out
    man = verify_models(tmp_path/'m')
    a = man['models']['segmentation']['adapt']
    assert a['images'] == 6 and a['batchnorm_layers'] > 10 and a['dataset'] == str((tmp_path/'scans').resolve())
    assert 'dice' in a['valid_before'] and 'dice' in man['models']['segmentation']['valid']
    seg = load_learner(tmp_path/'m'/'segmentation.pkl', cpu=True)
    bn = next(m for m in seg.model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen = []; h = bn.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    imgs = [read_image(p) for p in sorted((tmp_path/'scans'/'images').iterdir())]
    batch_preds(seg, imgs + [np.ascontiguousarray(x[:, ::-1]) for x in imgs]); h.remove()
    assert torch.allclose(bn.running_mean, torch.cat(seen).mean((0, 2, 3)), atol=1e-4)
    # every learner kept: nothing trains, the U-Net's statistics are adapted, all 16 items are held out for the acceptance model
    assert main(['train', str(tmp_path/'data'), '--out', str(tmp_path/'k'), '--preset', 'tiny', '--init', str(tiny_models),
                 '--keep', 'segmentation', 'quality', 'landmarks', '--adapt', str(tmp_path/'scans'), '--quiet']) == 0
    out = capsys.readouterr().out
    assert 'nothing trained' in out and 'BatchNorm statistics adapted' in out, out
    man = verify_models(tmp_path/'k')
    assert man['training_data']['valid_items'] == 16 and man['held_out']['images'] == 16
    assert man['models']['segmentation']['weights'] == 'kept' and man['models']['segmentation']['adapt']['images'] == 6
    assert file_sha256(tmp_path/'k'/'quality.pkl') == file_sha256(tiny_models/'quality.pkl')
    assert file_sha256(tmp_path/'k'/'segmentation.pkl') != file_sha256(tiny_models/'segmentation.pkl')
    was, now = (load_learner(f/'segmentation.pkl', cpu=True).model.state_dict() for f in (tiny_models, tmp_path/'k'))
    assert all(torch.equal(was[k], now[k]) for k in was if not k.endswith(('running_mean', 'running_var', 'num_batches_tracked')))
    assert not torch.equal(was[k := next(k for k in was if k.endswith('running_mean'))], now[k])
    assert main(['train', str(tmp_path/'data'), '--out', str(tmp_path/'x'), '--preset', 'tiny', '--init', str(tiny_models),
                 '--adapt', str(tmp_path/'nothing'), '--quiet']) == 2
    assert 'nothing' in capsys.readouterr().err

def test_fine_tune_rehearses_a_mixed_in_data_set(tmp_path, tiny_models, capsys, monkeypatch):
    """`--mix DATASET`: its labelled items join the U-Net's training items and are never held out, so the held-out figures
    and the acceptance model stay those of the user's own data set; the manifest and the command line say so; with every
    learner kept it is refused (nothing would train on it), and so is the data set itself (its held-out items would train)."""
    import crl_uls.train as T
    from pathlib import Path
    from crl_uls.cli import main
    from crl_uls.phantom import write_phantoms
    from crl_uls.pipeline import verify_models
    write_phantoms(tmp_path/'data', 10, 64, seed=7, workers=1, progress=False, domain='shifted')
    write_phantoms(tmp_path/'phantoms', 6, 64, seed=8, workers=1, progress=False)
    seen, real = [], T.seg_dls
    monkeypatch.setattr(T, 'seg_dls', lambda items, *a, **kw: seen.append(items.copy()) or real(items, *a, **kw))
    code = main(['train', str(tmp_path/'data'), '--out', str(tmp_path/'m'), '--preset', 'tiny', '--init', str(tiny_models),
                 '--keep', 'quality', 'landmarks', '--epochs', '1', '--mix', str(tmp_path/'phantoms'), '--quiet'])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    man = verify_models(tmp_path/'m'); d = man['training_data']
    assert d['items'] == 10 and d['valid_items'] == 2 and d['train_items'] == 8 + 6, d
    assert d['mix'] == {'dataset': str((tmp_path/'phantoms').resolve()), 'items': 6}
    fit = man['acceptance_fit']                         # the user's own held-out items, and calibration phantoms of their kind, not of the mix
    assert fit['held_out_items'] == 2 and man['held_out']['images'] == 2 + fit['calibration']['phantoms']
    assert fit['calibration']['scene'].get('domain') == 'shifted', fit['calibration']
    items = seen[-1]
    mixed = items[items.id.str.startswith('mix-')]
    assert len(mixed) == 6 and not mixed.is_valid.any() and len(items) == 16 and items.is_valid.sum() == 2
    assert set(mixed['image'].map(lambda p: Path(p).parent.parent)) == {tmp_path/'phantoms'}
    assert 'trained on 8 items of' in out and 'the 6 of' in out and 'held out: 2' in out, out
    assert main(['train', str(tmp_path/'data'), '--out', str(tmp_path/'k'), '--preset', 'tiny', '--init', str(tiny_models),
                 '--keep', 'segmentation', 'quality', 'landmarks', '--adapt', str(tmp_path/'data'), '--mix', str(tmp_path/'phantoms'),
                 '--quiet']) == 2
    assert 'nothing would train on it' in capsys.readouterr().err
    assert main(['train', str(tmp_path/'data'), '--out', str(tmp_path/'s'), '--preset', 'tiny', '--init', str(tiny_models),
                 '--keep', 'quality', 'landmarks', '--mix', str(tmp_path/'data'), '--quiet']) == 2
    assert 'held-out items would be trained on' in capsys.readouterr().err

def test_robustness_tool_will_not_reuse_a_stale_work_folder(tmp_path, tiny_models):
    "study/robustness/robustness.py reuses what an earlier run trained or wrote only if the preset still gives it: a changed preset stops the run."
    import sys, pytest
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parents[1]/'study'/'robustness'))
    import robustness
    man = json.loads((tiny_models/'manifest.json').read_text())
    robustness.stale(man, tiny_models, 'tiny')                     # as the preset trains it: reused
    with pytest.raises(SystemExit, match='demo'): robustness.stale(man, tiny_models, 'demo')
    man['models']['segmentation']['epochs'] += 1                   # the preset's epochs have changed since
    with pytest.raises(SystemExit, match=r'segmentation\.epochs'): robustness.stale(man, tiny_models, 'tiny')
    robustness.data(tmp_path/'ph', 3, 64, 1)
    assert robustness.data(tmp_path/'ph', 3, 64, 1) == tmp_path/'ph'   # the same count: reused as written
    with pytest.raises(SystemExit, match='holds 3 phantoms, not 5'): robustness.data(tmp_path/'ph', 5, 64, 1)

def _imagenet_file(torch_home, arch='resnet18'):
    "A weights file where torchvision keeps `arch`'s ImageNet weights, in a torch cache of the test's own (half precision: small)."
    import torch, torchvision.models as tvm
    from crl_uls.learners import cached_weights
    os.environ['TORCH_HOME'] = str(torch_home)
    torch.manual_seed(0)
    sd = {k: v.half() if v.is_floating_point() else v for k, v in getattr(tvm, arch)().state_dict().items()}
    url = getattr(tvm, {'resnet18': 'ResNet18_Weights'}[arch]).IMAGENET1K_V1.url
    p = torch_home/'hub'/'checkpoints'/url.rsplit('/', 1)[-1]
    p.parent.mkdir(parents=True, exist_ok=True); torch.save(sd, p)
    assert cached_weights(arch) == p
    return sd

def test_learners_start_from_imagenet_weights_in_the_torch_cache(tmp_path, monkeypatch):
    "`pretrained=True` loads torchvision's file from the torch cache into the learner's body (fastai's way); `crl-uls train --weights imagenet` records it."
    import torch
    from conftest import cli
    from crl_uls.data import sample_path
    from crl_uls.learners import landmark_dls, _UNAVAILABLE
    from crl_uls.landmarks import landmark_learner
    from crl_uls.phantom import write_phantoms
    monkeypatch.setenv('TORCH_HOME', str(tmp_path/'torch'))
    sd = _imagenet_file(tmp_path/'torch')
    _UNAVAILABLE.clear()
    l = landmark_learner(landmark_dls(sample_path(), size=32, bs=2, num_workers=0), arch='resnet18', pretrained=True)
    assert torch.equal(l.model[0][0].weight.detach(), sd['conv1.weight'].float())          # the file's first convolution
    assert l.crl_uls.weights == 'imagenet'
    write_phantoms(tmp_path/'data', 24, 64, seed=4, workers=1, progress=False)
    r = cli('train', tmp_path/'data', '--out', tmp_path/'m', '--preset', 'tiny', '--weights', 'imagenet', '--set', 'arch=resnet18',
            '--epochs', '1', '--set', 'quality.fold_epochs=1', '--calibration', '0', '--quiet')
    assert r.returncode == 0, r.stderr[-2000:]
    man = json.loads((tmp_path/'m'/'manifest.json').read_text())
    assert [man['models'][st]['weights'] for st in ('segmentation', 'quality', 'landmarks')] == ['imagenet'] * 3
    assert man['weights'] == 'imagenet'
    from crl_uls.pipeline import load_learners
    lm = load_learners(tmp_path/'m')[0][2]          # fastai froze the ImageNet body; training unfroze it: the body learned too
    assert not torch.allclose(lm.model[0][0].weight.detach(), sd['conv1.weight'].float(), atol=1e-4)

def test_offline_learners_fall_back_to_in_domain_then_random_weights(tmp_path, monkeypatch):
    "Without ImageNet weights, the default start says so in one line and falls back: the landmark ResNet34 from the trained U-Net's encoder, the others random; `--weights imagenet` is refused."
    from conftest import cli
    from crl_uls.learners import _UNAVAILABLE
    from crl_uls.phantom import write_phantoms
    monkeypatch.setenv('TORCH_HOME', str(tmp_path/'empty'))
    monkeypatch.setenv('CRL_ULS_OFFLINE', '1')
    _UNAVAILABLE.clear()
    write_phantoms(tmp_path/'data', 24, 64, seed=4, workers=1, progress=False)
    r = cli('train', tmp_path/'data', '--out', tmp_path/'m', '--preset', 'tiny', '--epochs', '1', '--set', 'quality.fold_epochs=1',
            '--calibration', '0', '--quiet')
    assert r.returncode == 0, r.stderr[-2000:]
    man = json.loads((tmp_path/'m'/'manifest.json').read_text())
    assert [man['models'][st]['weights'] for st in ('segmentation', 'quality', 'landmarks')] == ['random', 'random', 'domain']
    assert man['models']['landmarks']['domain_from'] == 'the U-Net encoder' and man['weights'] == 'best'
    lines = [l for l in r.stderr.splitlines() if 'no ImageNet weights' in l]
    assert len(lines) == 1 and 'CRL_ULS_OFFLINE is set' in lines[0] and 'landmarks starts from domain weights' in lines[0], r.stderr[-2000:]
    r = cli('train', tmp_path/'data', '--out', tmp_path/'n', '--preset', 'tiny', '--weights', 'imagenet', '--quiet')
    assert r.returncode == 2 and "weights 'imagenet': none for the segmentation learner's resnet34 (CRL_ULS_OFFLINE is set)" in r.stderr, r.stderr
