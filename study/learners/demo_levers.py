#!/usr/bin/env python3
"""The `demo` preset with some settings changed: `crl-uls demo` as the README runs it, for a lever screen.

    python study/learners/demo_levers.py OUT [STAGE.SETTING=VALUE ...]

e.g. `python study/learners/demo_levers.py /tmp/d landmarks.epochs=24 quality.epochs=12 quality.fold_epochs=2 data.n_calib=80`.
The run writes OUT/demo.json (its record) as the demo does; `study/learners/demo_levers.json` gathers those records.
"""
import ast, sys
from crl_uls import presets

def main(argv):
    out, changes = argv[0], argv[1:]
    for c in changes:
        key, value = c.split('=', 1); stage, setting = key.split('.')
        if setting not in presets.PRESETS['demo'][stage]: raise SystemExit(f"demo preset has no {stage}.{setting}")
        presets.PRESETS['demo'][stage][setting] = ast.literal_eval(value)
    from crl_uls.cli import main as cli
    return cli(['demo', '--out', out, '--quiet'])

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))      # under __main__: write_phantoms starts worker processes
