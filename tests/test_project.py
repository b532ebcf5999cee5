"Project checks: light imports, the library and README in step with the notebooks, pinned stack."
import configparser, json, shutil, sys
from pathlib import Path
import pytest
from conftest import ROOT, venv_tool, run

@pytest.mark.parametrize('module', ['crl_uls.core', 'crl_uls.biometry', 'crl_uls.data', 'crl_uls.phantom', 'crl_uls.learners',
                                    'crl_uls.segmentation', 'crl_uls.quality', 'crl_uls.landmarks', 'crl_uls.pipeline',
                                    'crl_uls.cli', 'crl_uls.app'])
def test_leaf_modules_import_neither_torch_nor_fastai(module):
    code = (f"import sys, {module}; heavy = [m for m in ('torch', 'fastai', 'torchvision') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    r = run(sys.executable, '-c', code)
    assert r.returncode == 0, f"{module} imported {r.stdout.strip()} {r.stderr}"

def test_ga_command_does_not_load_torch():
    code = ("import sys; from crl_uls.cli import main; main(['ga', '45']); "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert run(sys.executable, '-c', code).returncode == 0

def test_library_is_in_step_with_notebooks(tmp_path):
    "nbdev_export of the committed notebooks writes exactly the committed library."
    shutil.copy(ROOT/'settings.ini', tmp_path)
    shutil.copytree(ROOT/'nbs', tmp_path/'nbs')
    r = run(venv_tool('nbdev_export'), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    fresh = {p.name: p.read_text() for p in (tmp_path/'crl_uls').glob('*.py')}
    ours = {p.name: p.read_text() for p in (ROOT/'crl_uls').glob('*.py')}
    assert sorted(fresh) == sorted(ours)
    stale = [n for n in fresh if fresh[n] != ours[n]]
    assert not stale, f"crl_uls/ is out of step with nbs/ for {stale}: run nbdev_export"

def test_notebooks_are_clean(tmp_path):
    "nbdev_clean changes nothing in the committed notebooks."
    shutil.copy(ROOT/'settings.ini', tmp_path)
    shutil.copytree(ROOT/'nbs', tmp_path/'nbs')
    r = run(venv_tool('nbdev_clean'), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    dirty = [p.name for p in (ROOT/'nbs').glob('*.ipynb') if p.read_bytes() != (tmp_path/'nbs'/p.name).read_bytes()]
    assert not dirty, f"run nbdev_clean: {dirty}"

def test_readme_is_in_step_with_index():
    r = run(sys.executable, str(ROOT/'tools'/'readme.py'), '--check')
    assert r.returncode == 0, r.stderr

def test_stack_is_pinned():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini')
    req = cfg['DEFAULT']['requirements'].split() + cfg['DEFAULT']['dev_requirements'].split()
    for pin in ['fastai==2.8.7', 'fastcore>=1.12.3,<2', 'fasttransform<0.0.5', 'torch==2.14.1', 'torchvision==0.29.1',
                'nbdev==2.4.14', 'execnb<0.2']:
        assert pin in req, pin
    assert 'crl-uls=crl_uls.cli:main' in cfg['DEFAULT']['console_scripts']

def test_ci_runs_the_readme_test_command():
    readme, ci = (ROOT/'README.md').read_text(), (ROOT/'.ci'/'run').read_text()
    assert '<!-- test-command -->' in readme and 'test-command' in ci

def _readme_blocks(lang):
    import re
    return re.findall(rf"```{lang}\n(.*?)```", (ROOT/'README.md').read_text(), re.S)

def test_readme_python_snippets_run_as_pasted(tmp_path):
    "Each Python block of the README runs on its own in a fresh interpreter (imports included)."
    blocks = _readme_blocks('python')
    assert blocks
    for b in blocks:
        r = run(sys.executable, '-c', b, cwd=tmp_path)
        assert r.returncode == 0, f"README block failed:\n{b}\n{r.stderr[-1500:]}"

def test_readme_says_what_a_new_user_needs():
    text = (ROOT/'README.md').read_text()
    assert 'https://doi.org/10.1007/978-3-031-24801-6_17' in text                       # the original paper, linked
    assert 'download.pytorch.org/whl/cpu' in text and '6.4 GB' in text                 # install size, CPU-only torch
    assert 'apt-get install chromium' in text                                          # what the browser test needs

def test_no_prose_points_to_places_a_reader_cannot_see():
    import re
    bad = re.compile(r"\b(the issue|downloaded here|available here|already here|this project's developer machine)\b", re.I)
    texts = {'README.md': (ROOT/'README.md').read_text()}
    for nb in (ROOT/'nbs').glob('*.ipynb'):
        cells = json.loads(nb.read_text())['cells']
        texts[nb.name] = '\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown')
    found = {name: bad.findall(t) for name, t in texts.items() if bad.search(t)}
    assert not found, found

def test_demo_output_is_ignored_by_git():
    r = run('git', 'check-ignore', 'demo/models/manifest.json', 'crl_uls_demo/results.csv')
    assert r.returncode == 0 and len(r.stdout.split()) == 2, r.stdout + r.stderr

def test_no_test_installs_system_packages():
    "Installing belongs in .ci/run or the README; a test that lacks a tool skips and says how to get it."
    import re
    runs_installer = re.compile(r"""\[\s*['"](apt-get|apt|dnf|yum|brew|pip)['"]|os\.system\(""")
    offenders = [p.name for p in (ROOT/'tests').glob('*.py') if p.name != 'test_project.py' and runs_installer.search(p.read_text())]
    assert not offenders, offenders

def _private_imports(source:str, module:str) -> list:
    "Names starting with '_' that `source` (the module `module`) takes from another crl_uls module."
    import ast
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            src = ('crl_uls.' + node.module if node.level else node.module) if node.module else 'crl_uls'
            if src.startswith('crl_uls') and src != f'crl_uls.{module}':
                found += [f"{src}.{a.name}" for a in node.names if a.name.startswith('_')]
        elif isinstance(node, ast.Attribute) and node.attr.startswith('_') and not node.attr.startswith('__'):
            v = node.value
            if isinstance(v, ast.Name) and v.id in {'data', 'segmentation', 'quality', 'landmarks', 'learners', 'pipeline',
                                                    'phantom', 'biometry', 'core', 'train', 'cli', 'app'} and v.id != module:
                found.append(f"{v.id}.{node.attr}")
    return found

def test_modules_use_only_each_others_public_names():
    "A helper used across modules is public and has one home: no module takes another's _private name."
    assert _private_imports("from crl_uls.data import _pil\nfrom .segmentation import _unletterbox\nx = data._stamp", 'pipeline') == \
           ['crl_uls.data._pil', 'crl_uls.segmentation._unletterbox', 'data._stamp']      # the check itself can fail
    offenders = {p.stem: f for p in (ROOT/'crl_uls').glob('*.py') if (f := _private_imports(p.read_text(), p.stem))}
    assert not offenders, offenders

def test_one_home_for_each_formula():
    "The CRL, the INTERGROWTH-21st SD and the crown-rump axis angle are computed by biometry alone."
    import re
    owners = {'crl_uls/biometry.py'}
    patterns = {'CRL as a distance': r"hypot\(\s*\(?\s*(rump|pts?\[2\])|hypot\(rump|dist\(m\.crown, m\.rump\)|norm\(\w+\[:, 1\] - \w+\[:, 0\]",
                'INTERGROWTH-21st SD': r"2\.39102", 'axis angle': r"atan2\(\s*rump"}
    found = []
    for p in (ROOT/'crl_uls').glob('*.py'):
        rel = str(p.relative_to(ROOT))
        if rel in owners or p.name == '_modidx.py': continue
        found += [(rel, what) for what, pat in patterns.items() if re.search(pat, p.read_text())]
    assert not found, found

def _echo_off_cells():
    "The source of index.ipynb's cells that put a record's figures in the README (`#| echo: false`)."
    cells = json.loads((ROOT/'nbs'/'index.ipynb').read_text())['cells']
    return [''.join(c['source']) for c in cells if c['cell_type'] == 'code' and '#| echo: false' in ''.join(c['source'])[:40]]

def test_readme_figures_come_from_their_records():
    "Each README figure block is what its cell makes from the committed record now: a record changed without the README fails."
    import ast, contextlib
    cells = _echo_off_cells()
    assert len(cells) >= 2                                              # the demo's figures and the results table
    readme, seen, ns = (ROOT/'README.md').read_text(), [], {}
    with contextlib.chdir(ROOT/'nbs'):
        for src in cells:
            tree = ast.parse(src)
            *body, last = tree.body                                     # the cell's last expression is its output: a Markdown
            exec(compile(ast.Module(body, []), 'index.ipynb', 'exec'), ns)
            seen.append(eval(compile(ast.Expression(last.value), 'index.ipynb', 'eval'), ns).data)
    for text in seen: assert text.strip() in readme, text[:300]
    assert any('study/demo/demo.json' in t for t in seen) and any('study/cpu/summary.json' in t for t in seen)

def test_demo_help_takes_its_defaults_from_the_preset():
    from crl_uls.cli import make_parser
    from crl_uls.presets import PRESETS
    demo = make_parser()._subparsers._group_actions[0].choices['demo']
    text = ' '.join(demo.format_help().split())
    D = PRESETS['demo']['data']
    assert f"the preset's n_train, {D['n_train']} for demo" in text and f"the preset's n_test, {D['n_test']} for demo" in text, text

def test_the_repository_has_a_licence_and_a_citation():
    "settings.ini says Apache-2.0: the licence text is there, and the citation file names this project and the paper it re-creates."
    licence, cff = (ROOT/'LICENSE').read_text(), (ROOT/'CITATION.cff').read_text()
    assert 'Apache License' in licence and 'Version 2.0, January 2004' in licence
    assert 'cff-version:' in cff and 'license: Apache-2.0' in cff and 'doi: 10.1007/978-3-031-24801-6_17' in cff

def test_every_record_a_document_links_exists():
    "Paths under study/ named in the README, the guide, data/README.md and the notebooks' prose are in the repository (and not ignored)."
    import re
    texts = {'README.md': (ROOT/'README.md').read_text(), 'data/README.md': (ROOT/'data'/'README.md').read_text()}
    for nb in (ROOT/'nbs').glob('*.ipynb'):
        texts[nb.name] = '\n'.join(''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'markdown')
    missing = {}
    for name, t in texts.items():
        for p in set(re.findall(r"(?:\.\./)?(study/[\w./-]+\w)", t)):
            if not (ROOT/p).exists() or run('git', 'check-ignore', '-q', p).returncode == 0: missing.setdefault(name, []).append(p)
    assert not missing, missing

def test_chapters_and_guides_name_no_commit_outside_a_provenance_line():
    import re
    commit = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b")
    found = {}
    for nb in (ROOT/'nbs').glob('*.ipynb'):
        md = '\n'.join(''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'markdown')
        bad = [l for l in md.splitlines() if commit.search(l) and not l.startswith('*Provenance:*')]
        if bad: found[nb.name] = bad[:3]
    bad = [l for l in (ROOT/'README.md').read_text().splitlines() if commit.search(l) and 'Provenance' not in l]
    if bad: found['README.md'] = bad[:3]
    assert not found, found

def test_readme_and_training_chapter_stay_short():
    assert len((ROOT/'README.md').read_text()) <= 10_000
    cells = json.loads((ROOT/'nbs'/'09_train.ipynb').read_text())['cells']
    assert sum(len(''.join(c['source'])) for c in cells if c['cell_type'] == 'markdown') <= 12_000
