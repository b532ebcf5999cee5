"Hostile input and interrupted training: a short run of the fuzzer (tools/fuzz.py), and a train killed with SIGKILL (tools/kill_train.py's check)."
import importlib.util, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest
from conftest import ROOT

def tool(name):
    "A tools/ script as a module."
    spec = importlib.util.spec_from_file_location(name, ROOT/'tools'/f'{name}.py')
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); return m

def test_a_short_fuzz_run_ends_every_input_in_a_value_a_row_or_one_line(tiny_models, tmp_path):
    "300 mutated inputs through the readers and 4 predict runs: nothing crashes, raises, hangs or loses a row (the full run: 10,000)."
    fuzz = tool('fuzz')
    res = fuzz.run(300, seed=1, workers=2, timeout=60, models=str(tiny_models), keep=tmp_path/'kept', batch=50, progress=False)
    assert res['inputs'] == 300
    assert res['failures'] == [], res['failures'][:5]
    o = res['outcomes']
    assert o['read'] > 20 and o['refused'] > 20, o                # the mutations make both readable and hostile inputs
    assert res['predict_batches'] >= 3 and res['by_kind']['predict'] == {'read': res['predict_batches']}
    assert sum(res['by_kind'][k].get('read', 0) + res['by_kind'][k].get('refused', 0) for k in ('dcm', 'labelme', 'meta')) > 60

def test_the_fuzzer_counts_a_crash_a_hang_and_a_traceback(tmp_path):
    "The harness itself: a child killed by SIGSEGV, one deaf to its alarm, and one that raises are each counted, kept, and the run goes on."
    fuzz = tool('fuzz')
    res = fuzz.run(12, seed=2, workers=1, timeout=3, models=None, keep=tmp_path/'kept', progress=False, inject='2:crash,5:hang,8:traceback')
    assert res['inputs'] == 12
    got = {f['input']: f['outcome'] for f in res['failures']}
    assert got == {2: 'crash', 5: 'hang', 8: 'traceback'}, res['failures']
    assert 'SIGSEGV' in next(f['message'] for f in res['failures'] if f['input'] == 2)
    assert len(list((tmp_path/'kept').iterdir())) == 3               # each failing input written out, to be tried again

def test_a_train_killed_after_writing_a_learner_leaves_the_old_folder_whole(tiny_models, tmp_path):
    """kill -9 of a real `crl-uls train` over an existing folder once the new U-Net is written: the old folder verifies,
    loads and is unchanged, the half-written one beside it does not verify, and the lock does not outlive the process."""
    from crl_uls.phantom import write_phantoms
    from crl_uls.pipeline import verify_models, load_learners, UntrustedModelError
    from crl_uls.train import model_folder_lock, partial_folder
    kill = tool('kill_train')
    out = Path(shutil.copytree(tiny_models, tmp_path/'models'))
    before = (out/'manifest.json').read_bytes()
    write_phantoms(tmp_path/'data', 16, 64, seed=2, workers=1, progress=False)
    p = kill.start(tmp_path/'data', out, 5)
    part = partial_folder(out)
    t = time.time()
    while not (part/'segmentation.safetensors').exists():
        assert p.poll() is None, p.stderr.read().decode()[-2000:]
        assert time.time() - t < 300, 'no U-Net written in 5 minutes'
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL); p.wait(); p.stderr.close()
    assert p.returncode == -signal.SIGKILL
    assert (out/'manifest.json').read_bytes() == before
    verify_models(out); load_learners(out)
    with pytest.raises((UntrustedModelError, FileNotFoundError)): verify_models(part)
    with model_folder_lock(out): pass                                  # free again: the next run is not refused
