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
