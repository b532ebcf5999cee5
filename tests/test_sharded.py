"`crl-uls predict` under torchrun: two CPU processes share the inputs, rank 0 writes the CSV one process writes, and resumes."
from pathlib import Path
import os
import numpy as np
import pytest
from conftest import venv_tool, run, cli

ENV = {**os.environ, 'CRL_ULS_THREADS': '1'}

def torchrun(*args):
    "`crl-uls ARGS` as two CPU processes under torchrun (gloo)."
    return run(venv_tool('torchrun'), '--standalone', '--nproc_per_node', '2', venv_tool('crl-uls'), *map(str, args), env=ENV)

@pytest.fixture(scope='module')
def archive(tmp_path_factory):
    "8 phantoms of 64 px, a file that is no image, and a cine loop of 3 frames, in the order given."
    from crl_uls.phantom import make_phantom
    from crl_uls.data import write_png, write_dicom
    d = tmp_path_factory.mktemp('archive')
    files = []
    for i in range(8):
        files.append(write_png(d/f'scan_{i}.png', make_phantom(seed=7, index=i, size=64).image))
        if i == 2: (d/'broken.png').write_bytes(b'not an image'); files.append(d/'broken.png')
        if i == 5: files.append(write_dicom(d/'loop.dcm', np.stack([make_phantom(seed=8, index=k, size=64).image for k in range(3)]), 0.3))
    return [Path(f) for f in files]

ARGS = ['--mm-per-px', '0.3', '--points', 'geometric', '--bs', '1', '--quiet']     # one image a batch, one thread: the same numbers
                                                                                   # whichever images a process batches together

def test_two_processes_write_the_csv_of_one(tiny_models, archive, tmp_path, monkeypatch):
    "Every frame of the loop, the broken file's error row and the phantoms: the same bytes as one process, the same overlay names."
    monkeypatch.setenv('CRL_ULS_THREADS', '1')                        # one process measures as each of the two does
    one = cli('predict', tiny_models, *archive, '--out', tmp_path/'one.csv', '--frames', 'all', '--overlays', tmp_path/'ov1', *ARGS)
    assert one.returncode == 1 and 'measured 11 of 12 inputs, 1 failed' in one.stderr, one.stderr        # 12 rows: the loop's 3 frames
    r = torchrun('predict', tiny_models, *archive, '--out', tmp_path/'two.csv', '--frames', 'all', '--overlays', tmp_path/'ov2', *ARGS)
    assert r.returncode == 1, r.stderr[-3000:]                                  # an input failed, as in one process
    assert r.stderr.count('crl-uls predict: measured 11 of 12 inputs, 1 failed') == 1 and '2 processes' in r.stderr, r.stderr[-3000:]
    assert (tmp_path/'two.csv').read_bytes() == (tmp_path/'one.csv').read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith('two.csv')) == ['two.csv']    # no shard, no .partial left
    names = sorted(p.name for p in (tmp_path/'ov1').iterdir())
    assert 'loop_frame2.png' in names and 'broken.png' not in names and sorted(p.name for p in (tmp_path/'ov2').iterdir()) == names

def test_a_sharded_run_resumes_from_one_process_and_from_shards(tiny_models, archive, tmp_path, monkeypatch):
    "OUT.partial holds the first rows of one run, a killed shard one more and half a row: --resume measures the rest, same CSV."
    files = [f for f in archive if f.suffix != '.dcm']               # the loop aside: 9 inputs, the broken file the fourth
    monkeypatch.setenv('CRL_ULS_THREADS', '1')                        # one process measures as each of the two does
    one = cli('predict', tiny_models, *files, '--out', tmp_path/'one.csv', *ARGS)
    assert one.returncode == 1, one.stderr
    lines = (tmp_path/'one.csv').read_text().splitlines(keepends=True)
    out = tmp_path/'r.csv'
    Path(f'{out}.partial').write_text(''.join(lines[:4]))                # header and inputs 0-2
    Path(f'{out}.partial.rank1').write_text('input,' + lines[0] + '6,' + lines[7] + '7,' + lines[8][:20])   # input 6, then a cut row
    r = torchrun('predict', tiny_models, *files, '--out', out, '--resume', *ARGS)
    assert r.returncode == 1, r.stderr[-3000:]
    assert r.stderr.count(f'resuming from {out}.partial: 4 of {len(files)} inputs already measured') == 1, r.stderr[-3000:]
    assert out.read_bytes() == (tmp_path/'one.csv').read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith('r.csv')) == ['r.csv']

def test_several_processes_need_out(tiny_models, archive, tmp_path):
    "Without --out there is no one file to merge the rows into: one line says so, once (not once per process)."
    r = torchrun('predict', tiny_models, *archive[:2], '--quiet')
    assert r.returncode != 0
    assert r.stderr.count('crl-uls predict: error: with 2 processes (torchrun, accelerate launch) give --out CSV') == 1, r.stderr[-3000:]
