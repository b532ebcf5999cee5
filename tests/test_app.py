"The web page end to end: served in its own process, driven by headless Chromium as a user drives it."
import contextlib, math, os, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                 '--no-first-run', '--disable-sync', '--no-proxy-server']

def _find_chromium():
    for c in ('/usr/bin/chromium', shutil.which('chromium'), shutil.which('chromium-browser')):
        if c and os.access(c, os.X_OK): return c

@pytest.fixture(scope='module')
def chromium():
    "The system's Chromium (Playwright's own browser download needs the network); the test never installs one."
    exe = _find_chromium()
    if exe is None:
        pytest.skip('no Chromium: the browser test needs one (on Debian or Ubuntu: sudo apt-get install chromium; '
                    '.ci/run installs it)')
    return exe

@pytest.fixture(scope='module')
def browser(chromium):
    try: from playwright.sync_api import sync_playwright
    except ImportError: pytest.fail("playwright is not installed: run pip install -e '.[dev]' first")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()

LOGS = {}   # served URL -> that server's log, shown when a test fails

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@contextlib.contextmanager
def _serve(models, log):
    "The page on a free localhost port, in its own process, serving `models` (the outline's calipers); yields its URL."
    port = _free_port()
    code = ('import sys; from crl_uls.app import launch; from crl_uls.pipeline import Pipeline; '
            "launch(Pipeline.load(sys.argv[1], points='geometric'), port=int(sys.argv[2]))")
    env = {**os.environ, 'GRADIO_ANALYTICS_ENABLED': 'False', 'NO_PROXY': '127.0.0.1,localhost', 'no_proxy': '127.0.0.1,localhost'}
    with open(log, 'w') as f:
        proc = subprocess.Popen([sys.executable, '-c', code, str(models), str(port)], stdout=f, stderr=subprocess.STDOUT, env=env)
    url, opener = f'http://127.0.0.1:{port}/', urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        t = time.time()
        while True:
            if proc.poll() is not None: pytest.fail(f'the app exited with status {proc.returncode}:\n{log.read_text()[-3000:]}')
            if time.time() - t > 120: pytest.fail(f'the app did not answer on {url} within 120 s:\n{log.read_text()[-3000:]}')
            try:
                with opener.open(url, timeout=5) as r:
                    if r.status == 200: break
            except OSError: time.sleep(0.5)
        LOGS[url] = log
        yield url
    finally:
        proc.terminate()
        try: proc.wait(20)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait()

@pytest.fixture(scope='module')
def server(decided, tmp_path_factory):
    "The page serving tiny models that accept every result."
    with _serve(decided['always'], tmp_path_factory.mktemp('app')/'server.log') as url: yield url

@pytest.fixture(scope='module')
def scan(found, tmp_path_factory):
    "A phantom on which the tiny models find the fetus, as a PNG (no spacing inside) and as a DICOM file with its spacing."
    from crl_uls.data import write_png, write_dicom
    d = tmp_path_factory.mktemp('scan')
    return write_png(d/'scan.png', found.image), write_dicom(d/'scan.dcm', found.image, found.mm_per_px)

def _open(page, url):
    "Open the page and wait until Gradio has built it (the Measure button is shown) and its first requests are done."
    page.goto(url, wait_until='load')
    page.locator('#measure').wait_for(timeout=60_000)
    page.wait_for_load_state('networkidle')

def _put_file(page, url, path):
    """Give the upload box `path` and wait until the page lists it (it has reached the server).
    One CI run on a clean clone saw the very first upload of a session never listed within 30 s (later uploads fine;
    not reproduced here, also not under 4 busy processes): the file is given once more before the test fails, and the
    failure shows the server's log."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    for attempt in range(2):
        page.locator('#upload input[type=file]').set_input_files(str(path))
        try: return page.locator('#upload').get_by_text(Path(path).name).first.wait_for(timeout=45_000)
        except PlaywrightTimeout:
            if attempt == 0: continue
            log = LOGS.get(url)
            pytest.fail(f'the page never listed the uploaded {Path(path).name}; page text: {page.inner_text("body")[:500]!r}\n'
                        f'server log:\n{log.read_text()[-3000:] if log else "(none)"}')

def _upload(page, url, path, mm_per_px=None):
    "Open the page, upload a file, type the spacing and press Measure; return the status text once it is shown."
    _open(page, url)
    _put_file(page, url, path)
    if mm_per_px is not None:
        page.locator('#mm_per_px input').fill(str(mm_per_px)); page.locator('#mm_per_px input').press('Tab')
    page.locator('#measure').click()
    page.wait_for_function("() => { const e = document.querySelector('#status textarea, #status input'); return e && e.value.length > 0 }",
                           timeout=60_000)
    return _text(page, 'status')

def _text(page, elem_id): return page.locator(f'#{elem_id} textarea, #{elem_id} input').first.input_value()

def _shows(page, url, path, mm_per_px, models):
    "Upload `path` (typing `mm_per_px` unless None), then check the page shows what `Pipeline.predict` gives."
    from crl_uls.pipeline import Pipeline
    from crl_uls.app import ga_text
    status = _upload(page, url, path, mm_per_px)
    assert status.startswith(f'Measured {Path(path).name} in '), status
    shown, ga, quality = _text(page, 'crl'), _text(page, 'ga'), page.locator('#quality').inner_text()
    m = Pipeline.load(models, points='geometric').predict(path, mm_per_px=mm_per_px)
    assert not math.isnan(m.crl_mm) and shown.endswith(' mm'), (shown, m.crl_mm)     # the `found` phantom: a CRL in mm
    assert abs(float(shown.split()[0]) - m.crl_mm) <= 0.05 + 1e-6, (shown, m.crl_mm)  # to the 0.1 mm the page shows
    assert ga == ga_text(m) and ga
    assert m.quality.capitalize() in quality
    assert page.locator('#overlay img').count() >= 1
    from crl_uls.app import decision_text
    assert _text(page, 'decision') == decision_text(m), (_text(page, 'decision'), decision_text(m))
    return m

def test_page_shows_the_pipelines_crl(browser, server, scan, decided):
    page = browser.new_page()
    try: m = _shows(page, server, scan[0], 0.3, decided['always'])
    finally: page.close()
    assert m.accepted

def test_page_says_check_this(browser, scan, decided, tmp_path):
    "A result the tool does not accept says CHECK THIS on the page, with the banner on the overlay."
    with _serve(decided['never'], tmp_path/'server.log') as url:
        page = browser.new_page()
        try: m = _shows(page, url, scan[0], 0.3, decided['never'])
        finally: page.close()
    assert not m.accepted

def test_dicom_with_the_spacing_box_untouched(browser, server, scan, decided):
    "A DICOM measured as the page opens (the box as Gradio shows it): the file's own spacing, not an error."
    page = browser.new_page()
    try: m = _shows(page, server, scan[1], None, decided['always'])
    finally: page.close()
    from crl_uls.data import read_dicom
    assert m.mm_per_px == read_dicom(scan[1]).mm_per_px

def test_criteria_table_has_its_headers_before_a_measurement(browser, server):
    page = browser.new_page()
    try:
        _open(page, server)
        page.locator('#criteria').wait_for(timeout=30_000)
        head = ' '.join(page.locator('#criteria').inner_text().split())
    finally: page.close()
    assert all(h in head for h in ('criterion', 'met', 'value', 'threshold', 'unit')), head

def test_bad_file_is_a_clear_message(browser, server, tmp_path):
    bad = tmp_path/'notes.png'; bad.write_text('not an image')
    page = browser.new_page()
    try:
        status = _upload(page, server, bad, 0.3)
        body = page.content()
        crl = _text(page, 'crl')
    finally: page.close()
    assert status.startswith('Error: ') and 'notes.png' in status, status
    assert 'Traceback' not in body and crl == ''
