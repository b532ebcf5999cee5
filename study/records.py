#!/usr/bin/env python3
"""Records of the archive benchmarks of issue 36: a 30-frame cine loop against 30 single images, and predict in 2 processes
under torchrun against one; each tool's result with the command, the machine and the versions.

    python study/archive/benchmarks.py      # -> study/archive/bench_cine.json, bench_sharded.json  (run alone on the machine)
"""
import json, os, subprocess, sys
from datetime import datetime, timezone
from pathlib import Path

HERE, ROOT = Path(__file__).resolve().parent, Path(__file__).resolve().parents[2]

def record(name, cmd, env=None):
    "Run one benchmark tool, keep its JSON result with what made it."
    from crl_uls.pipeline import versions
    from crl_uls.core import run_device
    r = subprocess.run([sys.executable, *cmd], capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})})
    if r.returncode: sys.exit(r.stderr[-2000:])
    last = [l for l in r.stdout.splitlines() if l.strip()][-1]
    res = json.loads(last.removeprefix('RESULT '))
    rec = {'command': ' '.join(f'{k}={v}' for k, v in (env or {}).items()).strip() + (' ' if env else '') + 'python ' + ' '.join(cmd),
           'result': res, 'device': run_device(), 'cores': os.cpu_count(),
           'created': datetime.now(timezone.utc).isoformat(timespec='seconds'), 'versions': versions()}
    (HERE/f'{name}.json').write_text(json.dumps(rec, indent=1) + '\n')
    print(name, json.dumps(res))

if __name__ == '__main__':
    record('bench_cine', ['tools/bench_cine.py'], {'OMP_NUM_THREADS': '1'})
    record('bench_sharded', ['tools/bench_sharded.py', '--n', '300'])
