"Training through the command line: presets read when training starts, overrides, and what a log shows."
import json
from conftest import train_tiny

def test_train_with_a_preset_after_every_stage_module_was_imported(tmp_path, capsys):
    "Stage modules imported first (as a notebook or a script would) do not freeze the settings: the preset is read at train time."
    import crl_uls.learners, crl_uls.segmentation, crl_uls.quality, crl_uls.landmarks, crl_uls.pipeline, crl_uls.train  # noqa: F401
    from crl_uls.cli import main
    from crl_uls.train import PRESETS
    from crl_uls.phantom import write_phantoms
    write_phantoms(tmp_path/'data', 40, 64, seed=2, workers=1, progress=False)
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
    a, b = train_tiny(tmp_path/'a', seed=3, overrides=one, n=32), train_tiny(tmp_path/'b', seed=3, overrides=one, n=32)
    for st in ('segmentation', 'quality', 'landmarks'):
        assert a['models'][st]['valid'] == b['models'][st]['valid'], st
