"""Debian's chromium for the browser tests (installed with apt when missing; never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium() -> str:
    """The chromium executable, installed with apt-get (as root) when missing."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=900)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, timeout=900)
        path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed and could not be installed with apt-get")
    return path


# WCAG 2.1 contrast of every visible text node under the elements matching `selector`, against the
# background it is drawn on (the element's own and its ancestors' background colours, composited;
# text colours with alpha composited over that). Disabled controls are exempt (WCAG 1.4.3).
# Returns {"checked": n, "failures": [{text, ratio, fg, bg, where}]}.
CONTRAST_JS = r"""
(args) => {
  const [selector, minimum] = args;
  const parse = c => {
    const m = /rgba?\(([^)]+)\)/.exec(c || '');
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const background = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) {
        layers.push(c);
        if (c[3] >= 1) break;
      }
    }
    let base = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) base = over(layers[i], base);
    return base;
  };
  const lum = c => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const where = el => {
    const parts = [];
    for (let e = el; e && parts.length < 4; e = e.parentElement) {
      parts.push(e.tagName.toLowerCase() + (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\s+/).join('.') : ''));
    }
    return parts.join(' < ');
  };
  let checked = 0;
  const failures = [];
  for (const root of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent.trim();
      const el = node.parentElement;
      if (!text || !el || ['SCRIPT', 'STYLE', 'OPTION', 'TITLE', 'NOSCRIPT'].includes(el.tagName)) continue;
      if (el.closest('[disabled], [aria-disabled="true"], [hidden]')) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const rect = range.getBoundingClientRect();
      const style = getComputedStyle(el);
      if (rect.width < 1 || rect.height < 1 || style.visibility !== 'visible' || Number(style.opacity) === 0) continue;
      const bg = background(el);
      const fg = over(parse(style.color) || [0, 0, 0, 1], bg);
      const r = ratio(fg, bg);
      checked += 1;
      if (r < minimum) {
        failures.push({ text: text.slice(0, 50), ratio: Math.round(r * 100) / 100, fg: fg.slice(0, 3).map(Math.round), bg: bg.slice(0, 3).map(Math.round), where: where(el) });
      }
    }
  }
  return { checked, failures };
}
"""


def contrast(target, selector: str, minimum: float = 4.5) -> dict:
    """Run :data:`CONTRAST_JS` in a page or frame (Playwright evaluates in sandboxed frames too)."""
    return target.evaluate(CONTRAST_JS, [selector, minimum])


# Outputs whose content is cut off: the output box is shorter than its content, or a text line of it
# lies outside the box (the bug: a panel rule made the kernel's `aieng-run` div 44 px, absolute).
CLIPPED_JS = r"""
(selector) => {
  const out = [];
  for (const box of document.querySelectorAll(selector)) {
    const outer = box.getBoundingClientRect();
    const cut = box.scrollHeight > box.clientHeight + 2;
    let outside = null;
    const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node && !outside; node = walker.nextNode()) {
      if (!node.textContent.trim() || !node.parentElement || node.parentElement.closest('style, script')) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const r = range.getBoundingClientRect();
      if (r.height > 0 && (r.top < outer.top - 1 || r.bottom > outer.bottom + 1)) outside = node.textContent.trim().slice(0, 40);
    }
    if (cut || outside) out.push({ text: box.innerText.slice(0, 60), height: outer.height, scrollHeight: box.scrollHeight, outside });
  }
  return out;
}
"""


def set_theme(pg, dark: bool) -> None:
    """Switch JupyterLab's theme through its Settings menu and wait until it applies."""
    if pg.evaluate("document.body.dataset.jpThemeLight") == ("false" if dark else "true"):
        return
    pg.click('.lm-MenuBar-itemLabel:text-is("Settings")')
    pg.click(".lm-Menu >> text=Theme")
    pg.click(f".lm-Menu >> text={'JupyterLab Dark' if dark else 'JupyterLab Light'}")
    pg.wait_for_function(f"document.body.dataset.jpThemeLight === '{'false' if dark else 'true'}'", timeout=60_000)
    pg.wait_for_timeout(400)  # the theme's stylesheet replaces the other one
