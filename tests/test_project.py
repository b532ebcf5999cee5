"Project checks: light imports, the library and README in step with the notebooks, pinned stack."
import configparser, shutil, sys
from pathlib import Path
import pytest
from conftest import ROOT, venv_tool, run

@pytest.mark.parametrize('module', ['crl_uls.core', 'crl_uls.biometry', 'crl_uls.cli', 'crl_uls.app'])
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
