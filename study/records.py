#!/usr/bin/env python3
"""Records of the benchmarks and robustness runs behind issues 36 and 37: each tool's result (its last line of output,
a JSON object) kept with the command, its exit status, the machine and the versions. Run each alone on the machine.

    python study/records.py cine sharded          # -> study/archive/bench_cine.json, bench_sharded.json
    python study/records.py fuzz kill_train load  # -> study/hardening/fuzz.json, kill_train.json, bench_load.json
    python study/records.py fuzz_seed1 fuzz_seed2 # -> study/hardening/fuzz_seed1.json, fuzz_seed2.json (other mutations)
"""
import json, os, subprocess, sys
from datetime import datetime, timezone
from pathlib import Path

HERE, ROOT = Path(__file__).resolve().parent, Path(__file__).resolve().parents[1]
JOBS = {  # name: (record, command, environment)
    'cine': ('archive/bench_cine.json', ['tools/bench_cine.py'], {'OMP_NUM_THREADS': '1'}),
    'sharded': ('archive/bench_sharded.json', ['tools/bench_sharded.py', '--n', '300'], None),
    'fuzz': ('hardening/fuzz.json', ['tools/fuzz.py', '--n', '10000', '--keep', 'fuzz_failures'], None),
    **{f'fuzz_seed{k}': (f'hardening/fuzz_seed{k}.json', ['tools/fuzz.py', '--n', '10000', '--seed', str(k), '--keep', 'fuzz_failures'], None)
       for k in (1, 2)},
    'kill_train': ('hardening/kill_train.json', ['tools/kill_train.py', '--kills', '10'], None),
    'load': ('hardening/bench_load.json', ['tools/bench_load.py', '--repeats', '9'], None)}

def record(name):
    "Run one tool, keep its JSON result with what made it (a run that reports failures is kept too, with its exit status)."
    from crl_uls.pipeline import versions
    from crl_uls.core import run_device
    path, cmd, env = JOBS[name]
    r = subprocess.run([sys.executable, *cmd], capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})})
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    try: res = json.loads(lines[-1].removeprefix('RESULT '))
    except (IndexError, ValueError): sys.exit(f'{name}: no result (exit status {r.returncode})\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}')
    rec = {'command': ' '.join(f'{k}={v}' for k, v in (env or {}).items()).strip() + (' ' if env else '') + 'python ' + ' '.join(cmd),
           'exit_status': r.returncode, 'result': res, 'device': run_device(), 'cores': os.cpu_count(),
           'created': datetime.now(timezone.utc).isoformat(timespec='seconds'), 'versions': versions()}
    (HERE/path).parent.mkdir(parents=True, exist_ok=True)
    (HERE/path).write_text(json.dumps(rec, indent=1) + '\n')
    print('\n'.join(l for l in lines[:-1] if not l.startswith('RESULT ')))
    print(f'{name}: exit status {r.returncode}; record {HERE/path}')

if __name__ == '__main__':
    names = sys.argv[1:] or list(JOBS)
    if set(names) - set(JOBS): sys.exit(f"unknown job(s) {', '.join(sorted(set(names) - set(JOBS)))}; choose from {', '.join(JOBS)}")
    for n in names: record(n)
