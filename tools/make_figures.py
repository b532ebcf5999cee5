#!/usr/bin/env python3
"""Write the README's figure: phantoms across gestational age with their ground truth.

    python tools/make_figures.py      # -> figures/phantoms.png
"""
from pathlib import Path
import matplotlib; matplotlib.use('Agg')
from crl_uls.phantom import make_phantom, show_phantoms

def main(out=Path(__file__).resolve().parent.parent/'figures'/'phantoms.png'):
    picks = [make_phantom(seed=2, index=i, ga_days=ga, flexion=fl) for i, (ga, fl) in
             enumerate([(62, 'neutral'), (74, 'hyperflexed'), (86, 'neutral'), (96, 'hyperextended')])]
    fig = show_phantoms(picks, ncols=4)
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=80, bbox_inches='tight')
    print(f"wrote {out}")

if __name__ == '__main__': main()
