"""The HTML report, looked at the way a person would: ``python -m bytegraph report`` on a
small script, then the page opened in headless Chromium. The rendered DOM must show the
functions, the break (GB009, with its source line), the recompile reason and the graph code;
the screenshot must be a real picture of the page (not blank), with the timeline's bars.

Needs Debian's ``chromium`` (``make test`` installs it when it can); skipped, saying so,
where it is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib
from collections import Counter

import pytest

SCRIPT = '''
    import sys
    import torch
    import bytegraph


    @bytegraph.compile
    def train_step(x, n):
        y = torch.relu(x) * n
        print("step", n)
        return y.sum()


    x = torch.ones(4)
    for n in [1, 1, int(sys.argv[1])]:
        train_step(x, n)
'''

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars"]

GREEN, ORANGE, DARK = (0x2E, 0x7D, 0x32), (0xEF, 0x6C, 0x00), (0x1D, 0x24, 0x33)   # report.py's colours


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    pytest.skip("Chromium is not installed, so the HTML report cannot be checked in a browser; install Debian's "
                "`chromium` package (`make test` does it with apt-get when run as root)")


def run_chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc


def png_pixels(path) -> tuple[int, int, list[bytearray], int]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) in pure Python: (width, height, rows, bytes per pixel)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unexpected PNG format {header}"
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev, rows = bytearray(stride), []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:                                   # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:                                 # Up
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif kind == 3:                                 # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif kind == 4:                                 # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, rows, bpp


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The report of SCRIPT run with argument 2 (one print break, one recompile), made by the CLI."""
    tmp = tmp_path_factory.mktemp("report")
    script = tmp / "train.py"
    script.write_text(textwrap.dedent(SCRIPT).lstrip())
    out = tmp / "train.html"
    proc = subprocess.run([sys.executable, "-m", "bytegraph", "report", "-o", str(out), str(script), "2"],
                          capture_output=True, text=True, timeout=300, cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("step") == 3, "the script ran, with its argument"
    return out


def test_rendered_page_shows_breaks_recompiles_and_graphs(page, tmp_path):
    dom = run_chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert "<h1>bytegraph report: train.py</h1>" in dom
    assert "3 captures of 2 functions: 3 graphs (5 ops), 2 graph breaks (GB009), 0 frames run eagerly, " \
           "1 recompile" in dom
    for function in ("#1 train_step", "#2 train_step_resume_at_<i>", "#3 train_step"):
        assert function in re.sub(r"_resume_at_\d+", "_resume_at_<i>", dom)   # CPython's numbering, per version
    assert dom.count('class="badge break">GB009</span>') == 2
    assert "at train.py:9 in train_step" in dom
    assert '<tr class="hit"><td class="n">9</td><td>    print("step", n)</td></tr>' in dom
    assert "recompiled because L['n']: expected EQUALS_MATCH 1, got 2 (guard from builder rule 'literal')" in dom
    assert "relu = torch.relu(l_x_)" in dom and "sum_1 = l_y_.sum()" in dom
    assert "check_tensor(L['x'], torch.Tensor, torch.float32, device='cpu', requires_grad=False, size=[4], " \
           "stride=[1])" in dom


def test_screenshot_is_the_page(page, tmp_path):
    png = tmp_path / "report.png"
    run_chromium(tmp_path, f"--screenshot={png}", "--window-size=1280,2000", page.as_uri())
    assert png.is_file() and png.stat().st_size > 20_000, "a real page compresses to more than a blank one"
    width, height, rows, bpp = png_pixels(png)
    assert (width, height) == (1280, 2000)
    colours = Counter(bytes(row[x:x + 3]) for row in rows[::2] for x in range(0, width * bpp, 2 * bpp))
    assert len(colours) > 50, f"only {len(colours)} colours: a blank or nearly blank page"
    top, _ = colours.most_common(1)[0], None
    assert top[1] < 0.9 * sum(colours.values()), "one colour covers almost everything"
    header = Counter(bytes(rows[10][x:x + 3]) for x in range(0, width * bpp, bpp))
    assert header[bytes(DARK)] > width // 2, "the dark header band is at the top"
    assert colours[bytes(ORANGE)] > 50 and colours[bytes(GREEN)] > 5, "the timeline's break and graph bars are drawn"
