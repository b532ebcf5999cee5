#!/usr/bin/env python3
"""Write README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which is not available here).

Markdown cells are copied as they are; code cells become ```python blocks followed by their
text output; cells whose first line is an nbdev `#| hide` directive are left out. A cell marked
`#| echo: false` shows its output alone, and an output of type text/markdown (IPython's
`Markdown`) is copied as markdown: that is how figures read from a committed record reach the
README (`nbs/index.ipynb` computes them; `tests/test_project.py` checks they match the record).
`python tools/readme.py --check` exits 1 when README.md is out of step with the notebook.
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def _src(cell): return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']

def _hidden(src): return any(l.replace(' ', '') in ('#|hide', '#|export', '#|exporti') for l in src.splitlines()[:3])

def _echo_off(src): return any(l.replace(' ', '') == '#|echo:false' for l in src.splitlines()[:3])

def _markdown(cell):
    "The cell's text/markdown outputs, as they are."
    return [''.join(o['data']['text/markdown']).strip('\n') for o in cell.get('outputs', []) if 'text/markdown' in o.get('data', {})]

def _outputs(cell):
    texts = []
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream' and o.get('name') == 'stdout': texts.append(''.join(o['text']))
        elif 'data' in o and 'text/markdown' not in o['data'] and 'text/plain' in o['data']: texts.append(''.join(o['data']['text/plain']))
    return ''.join(t if t.endswith('\n') else t + '\n' for t in texts)

def render(nb_path=ROOT/'nbs'/'index.ipynb') -> str:
    "The README text for a notebook."
    parts = []
    for cell in json.loads(Path(nb_path).read_text(encoding='utf-8'))['cells']:
        src = _src(cell).strip('\n')
        if cell['cell_type'] == 'markdown': parts.append(src)
        elif cell['cell_type'] == 'code' and src and not _hidden(src):
            if not _echo_off(src): parts.append(f"```python\n{src}\n```")
            out = _outputs(cell)
            if out: parts.append(f"```\n{out}```")
            parts += _markdown(cell)
    return '<!-- Written by tools/readme.py from nbs/index.ipynb: edit the notebook, not this file. -->\n\n' + '\n\n'.join(parts) + '\n'

def main(argv=sys.argv[1:]):
    text, readme = render(), ROOT/'README.md'
    if '--check' in argv:
        if not readme.exists() or readme.read_text(encoding='utf-8') != text:
            print('README.md is out of step with nbs/index.ipynb: run python tools/readme.py', file=sys.stderr)
            return 1
        return 0
    readme.write_text(text, encoding='utf-8')
    return 0

if __name__ == '__main__': sys.exit(main())
