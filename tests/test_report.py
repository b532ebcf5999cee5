"The report page (`predict --report`, `evaluate --out`) opened offline in headless Chromium, as a person opens it."
import numpy as np
import pytest
from conftest import cli
from test_app import browser, chromium   # noqa: F401  (the system Chromium, launched as the app's tests launch it)

def _open_offline(browser, page_file, shot=None):
    "Open a report file with every http(s) request refused; (page, console errors, requests attempted)."
    ctx = browser.new_context(viewport={'width': 1100, 'height': 900})
    errors, asked = [], []
    def refuse(route):
        asked.append(route.request.url); route.abort()
    ctx.route('http://**/*', refuse); ctx.route('https://**/*', refuse)
    page = ctx.new_page()
    page.on('console', lambda m: errors.append(m.text) if m.type == 'error' else None)
    page.on('pageerror', lambda e: errors.append(str(e)))
    page.on('request', lambda r: asked.append(r.url) if r.url.startswith(('http:', 'https:')) else None)
    page.goto(page_file.resolve().as_uri(), wait_until='load')
    page.wait_for_function('[...document.images].every(i => i.complete)', timeout=10_000)
    if shot: page.screenshot(path=str(shot), full_page=True)
    return page, errors, asked

def _images_shown(page) -> list:
    "Each <img>'s natural width (0: not shown)."
    return page.eval_on_selector_all('img', 'els => els.map(e => e.complete ? e.naturalWidth : 0)')

@pytest.fixture(scope='module')
def inputs(found, tmp_path_factory):
    "Scans a report sorts: a phantom found (accepted twice, one under a name that is markup), a blank (CHECK), a broken file (failed)."
    from crl_uls.data import write_png
    d = tmp_path_factory.mktemp('scans')
    write_png(d/'found.png', found.image); write_png(d/'<img src=x onerror=alert(1)>.png', found.image)
    write_png(d/'blank.png', np.zeros_like(found.image)); (d/'broken.png').write_bytes(b'not a png')
    return d

def test_predict_report_offline(browser, decided, found, inputs, tmp_path):
    r = cli('predict', decided['always'], inputs, '--mm-per-px', found.mm_per_px, '--points', 'geometric', '--report', tmp_path/'rep',
            '--quiet')
    assert r.returncode == 1 and 'page in' in r.stderr, r.stderr        # 1: the broken file failed, its row kept
    page, errors, asked = _open_offline(browser, tmp_path/'rep'/'report.html', tmp_path/'report.png')
    try:
        assert errors == [] and asked == [], (errors, asked)
        widths = _images_shown(page)
        assert len(widths) == 3 and min(widths) > 0, widths           # three measured, one thumbnail each, all shown
        figs = page.eval_on_selector_all('.thumbs figure', 'els => els.map(e => e.className)')
        assert figs == ['CHECK', 'accepted', 'accepted'], figs           # the one to check first
        rows = page.eval_on_selector_all('#results tbody tr', 'els => els.map(e => e.className)')
        assert rows == ['CHECK', 'failed', 'accepted', 'accepted'], rows
        first = page.inner_text('#results tbody tr:first-child')
        assert 'blank.png' in first and 'CHECK' in first, first
        assert '<img src=x onerror=alert(1)>.png' in page.inner_text('#results')   # a name is text, not markup (no fourth <img>)
        assert 'broken.png' in page.inner_text('#results tbody tr.failed')
        assert 'not a medical device' in page.inner_text('body') and '2 accepted, 1 to check' in page.inner_text('#summary')
    finally: page.context.close()
    assert (tmp_path/'report.png').stat().st_size > 10_000

def test_evaluate_report_offline(browser, decided, tmp_path):
    from crl_uls.phantom import write_phantoms
    write_phantoms(tmp_path/'held', 3, 64, seed=5, workers=1, progress=False)
    r = cli('evaluate', decided['never'], tmp_path/'held', '--out', tmp_path/'ev', '--points', 'geometric', '--quiet')
    assert r.returncode == 0, r.stdout + r.stderr
    page, errors, asked = _open_offline(browser, tmp_path/'ev'/'report.html')
    try:
        assert errors == [] and asked == [], (errors, asked)
        widths = _images_shown(page)
        assert len(widths) == 3 + 3 and min(widths) > 0, widths     # three figures, three thumbnails
        assert page.eval_on_selector_all('.thumbs figure', 'els => els.map(e => e.className)') == ['CHECK'] * 3
        assert 'limits of agreement' in page.inner_text('#summary')
    finally: page.context.close()
