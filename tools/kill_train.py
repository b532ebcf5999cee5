"""kill -9 a `crl-uls train` over an existing model folder at random moments, and check what it leaves.

    python tools/kill_train.py [--kills 10] [--seed 0] [--phantoms 24]

Trains a tiny model folder once, timing the run, then starts the same training over it (another seed, so the new
folder differs) `--kills` times and sends SIGKILL to its process group after a random share of that time. After each
kill: the folder must verify against its manifest and load (the three learners rebuilt from their weights), and be the
folder that was there before (the same manifest bytes), or, when the run was past its swap, the complete new one; a
folder left beside it (`.OUT.partial`, `.OUT.old`) must not verify. A last run must then complete over it (no stale
lock). Prints one line per kill, then the result as one JSON line (`RESULT {...}`); exit status 1 when any check failed."""
import argparse, json, os, signal, subprocess, sys, tempfile, time, shutil
from pathlib import Path
import numpy as np

def train_cmd(data, out, seed):
    return [sys.executable, '-m', 'crl_uls.cli', 'train', str(data), '--out', str(out), '--preset', 'tiny', '--seed', str(seed),
            '--weights', 'domain', '--quiet']

def start(data, out, seed):
    env = {**os.environ, 'CRL_ULS_OFFLINE': '1'}
    return subprocess.Popen(train_cmd(data, out, seed), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env)

def check(out:Path) -> dict:
    "What a kill left: does the folder verify and load, which manifest it has, and does anything beside it verify."
    from crl_uls.pipeline import verify_models, load_learners
    res = {}
    try: verify_models(out); load_learners(out); res['folder'] = 'verifies and loads'
    except Exception as e: res['folder'] = f'FAILS: {type(e).__name__}: {e}'
    res['manifest'] = (out/'manifest.json').read_bytes() if (out/'manifest.json').exists() else None
    for side in (out.parent/f'.{out.name}.partial', out.parent/f'.{out.name}.old'):
        if not side.exists(): continue
        try: verify_models(side); res[side.name] = 'VERIFIES'
        except Exception as e: res[side.name] = f'refused ({type(e).__name__})'
        res[side.name + ' files'] = sorted(f.name for f in side.iterdir())
    return res

def run(kills:int=10, seed:int=0, phantoms:int=24, moments:list|None=None, root:Path|None=None, say=print) -> dict:
    "Kill `kills` runs (at `moments`, shares of a full run's time, else uniform random ones) and check each; the record."
    from crl_uls.phantom import write_phantoms
    own = root is None
    root = Path(root or tempfile.mkdtemp(prefix='crl_uls_kill.'))
    try:
        data, out = root/'data', root/'models'
        write_phantoms(data, phantoms, 64, seed=1, workers=1, progress=False)
        t = time.time(); p = start(data, out, 0); err = p.communicate()[1]
        full = time.time() - t
        if p.returncode: raise SystemExit(f'the first training failed: {err.decode()[-2000:]}')
        say(f'a full run over nothing: {full:.1f} s')
        rng = np.random.default_rng(seed)
        moments = list(moments) if moments is not None else sorted(rng.uniform(0.02, 1.0, kills).round(3).tolist())
        rows = []
        for k, share in enumerate(moments):
            before = (out/'manifest.json').read_bytes()
            p = start(data, out, k + 1); time.sleep(share * full)
            finished = p.poll() is not None
            if not finished: os.killpg(p.pid, signal.SIGKILL)
            p.wait(); p.stderr.close()
            c = check(out)
            same = c['manifest'] == before
            ok = c['folder'] == 'verifies and loads' and (same or finished) and not any(v == 'VERIFIES' for v in c.values())
            row = {'moment_share': share, 'seconds': round(share * full, 1), 'killed': not finished, 'folder': c['folder'],
                   'previous_folder': same, **{k2: v for k2, v in c.items() if k2.startswith('.')}, 'ok': ok}
            rows.append(row)
            say(f"kill {k + 1} at {row['seconds']:5.1f} s ({share:.0%}): {'killed' if not finished else 'had finished'}; "
                f"{c['folder']}; {'the previous folder' if same else 'the new folder'}"
                + ''.join(f"; {k2}: {v}" for k2, v in c.items() if k2.startswith('.') and not k2.endswith('files')) + ('' if ok else '  <- FAILED'))
        p = start(data, out, 99); err = p.communicate()[1]
        last = {'returncode': p.returncode, **{k: v for k, v in check(out).items() if k != 'manifest'}}
        say(f"a complete run afterwards: exit status {p.returncode}; {last['folder']}")
        return {'full_run_s': round(full, 1), 'kills': rows, 'complete_run_after': last,
                'failed': sum(not r['ok'] for r in rows) + (p.returncode != 0 or last['folder'] != 'verifies and loads')}
    finally:
        if own: shutil.rmtree(root, ignore_errors=True)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split('\n\n', 2)[2])
    ap.add_argument('--kills', type=int, default=10); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--phantoms', type=int, default=24, help='training phantoms of 64 px (default: 24)')
    a = ap.parse_args()
    res = run(a.kills, a.seed, a.phantoms)
    print(f"kill_train: {len(res['kills'])} kills, {sum(r['killed'] for r in res['kills'])} mid-run; {res['failed']} failed checks")
    print('RESULT ' + json.dumps(res, default=str))
    return 1 if res['failed'] else 0

if __name__ == '__main__': sys.exit(main())
