"""ComfyUI's real page in headless Chromium: Debian's ``/usr/bin/chromium`` driven by Playwright.

Playwright only drives that binary (``executable_path``); its own browser download is never used.
Used by ``test_frontend_page.py`` and by ``build_workflows.py --thumbnails``.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = Path(os.environ.get("SVFR_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1600, "height": 900}  # the page size the templates' saved view is made for
TITLE_H = 30  # litegraph title bar, drawn above a node's pos

# Every canvas text drawn is recorded, so a test can tell what a node's onDrawForeground painted.
RECORD_TEXT = """
window.__svfrDrawnText = new Set();
const fillText = CanvasRenderingContext2D.prototype.fillText;
CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
  window.__svfrDrawnText.add(String(text));
  return fillText.call(this, text, ...rest);
};
"""

# Screen boxes of every node (title bar included) and what covers each of a grid of points in it:
# a node is visible where the top element is the graph canvas or one of that node's DOM widgets.
NODE_GEOMETRY = """() => {
  const canvas = app.canvas.canvas;
  const ds = app.canvas.ds;
  const rect = canvas.getBoundingClientRect();
  return app.graph._nodes.map((n) => {
    const [x0, y0] = ds.convertOffsetToCanvas([n.pos[0], n.pos[1] - %d]);
    const [x1, y1] = ds.convertOffsetToCanvas([n.pos[0] + n.size[0], n.pos[1] + n.size[1]]);
    const covered = [];
    for (let i = 0; i <= 4; i++) for (let j = 0; j <= 4; j++) {
      const px = rect.left + x0 + 2 + (x1 - x0 - 4) * i / 4, py = rect.top + y0 + 2 + (y1 - y0 - 4) * j / 4;
      const el = document.elementFromPoint(px, py);
      const own = el && (el === canvas || (n.widgets || []).some((w) => w.element && w.element.contains(el)));
      if (!own) covered.push([Math.round(px), Math.round(py), el ? (el.className?.baseVal ?? el.className ?? el.tagName).toString().slice(0, 60) : "outside the page"]);
    }
    return {id: n.id, type: n.type, title: n.title, pos: [...n.pos], size: [...n.size], computed: [...n.computeSize()],
            screen: [x0 + rect.left, y0 + rect.top, x1 + rect.left, y1 + rect.top], covered};
  });
}""" % TITLE_H


class ComfyPage:
    """One open ComfyUI page: load graphs, read node geometry, toasts and console, queue prompts."""

    def __init__(self, page, url: str):
        self.page = page
        self.url = url.rstrip("/")
        self.console: list[tuple[str, str, str]] = []  # (type, text, source url)
        self.prompts: list[dict] = []  # bodies POSTed to /api/prompt
        page.on("console", lambda m: self.console.append((m.type, m.text, (m.location or {}).get("url", ""))))
        page.on("pageerror", lambda e: self.console.append(("pageerror", str(e), "")))
        page.on("request", self._on_request)

    def _on_request(self, req) -> None:
        if req.method == "POST" and req.url.endswith("/prompt"):
            self.prompts.append(req.post_data_json)

    def open(self, timeout_s: float = 90) -> None:
        # a new user gets the templates dialog on the first visit; mark the tutorial as done first
        req = urllib.request.Request(self.url + "/api/settings/Comfy.TutorialCompleted", data=b"true",
                                     headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req, timeout=30).read()
        self.page.goto(self.url + "/", timeout=timeout_s * 1000)
        self.page.wait_for_function("() => window.app?.graph && window.app?.canvas?.ds && "
                                    "window.app.extensionManager", timeout=timeout_s * 1000)
        time.sleep(1.0)  # the first-run templates dialog opens a moment after the app
        self.close_dialogs()

    def close_dialogs(self) -> None:
        for _ in range(5):
            dialogs = self.page.locator(".p-dialog:visible")
            if dialogs.count() == 0:
                return
            self.page.keyboard.press("Escape")
            time.sleep(0.3)

    def load_graph(self, workflow: dict, settle_s: float = 2.0) -> None:
        """Load a UI graph the way the template browser does (``app.loadGraphData``), then let previews load."""
        self.page.evaluate("wf => app.loadGraphData(wf, true, true, null, {openSource: 'template'})", workflow)
        time.sleep(settle_s)
        self.page.evaluate("() => app.canvas.draw(true, true)")

    def dialogs(self) -> list[str]:
        """Text of the open dialogs (e.g. the missing-nodes dialog of a graph that uses an absent pack)."""
        return self.page.evaluate("() => [...document.querySelectorAll('.p-dialog')].map(e => e.innerText)")

    def toasts(self) -> list[str]:
        return self.page.evaluate("() => [...document.querySelectorAll('.p-toast-message')].map(e => e.innerText)")

    def nodes(self) -> list[dict]:
        return self.page.evaluate(NODE_GEOMETRY)

    def drawn_text(self) -> set[str]:
        self.page.evaluate("() => { window.__svfrDrawnText.clear(); app.canvas.draw(true, true); }")
        return set(self.page.evaluate("() => [...window.__svfrDrawnText]"))

    def frontend_version(self) -> str:
        """The frontend's own version (``window.__COMFYUI_FRONTEND_VERSION__``, set by its bundle)."""
        return self.page.evaluate("() => window.__COMFYUI_FRONTEND_VERSION__ || ''")

    def extension_names(self) -> list[str]:
        return self.page.evaluate("() => app.extensions.map(e => e.name)")

    def set_widget(self, node_id: int, name: str, value) -> None:
        ok = self.page.evaluate("""([id, name, value]) => {
          const w = app.graph.getNodeById(id)?.widgets?.find((w) => w.name === name);
          if (!w) return false;
          w.value = value; w.callback?.(value);
          return true;
        }""", [node_id, name, value])
        if not ok:
            raise KeyError(f"node {node_id} has no widget {name!r}")

    def queue(self, timeout_s: float = 60) -> dict:
        """Press Queue (``app.queuePrompt``); returns the body the frontend POSTed to /prompt."""
        before = len(self.prompts)
        with self.page.expect_response(lambda r: r.url.endswith("/prompt") and r.request.method == "POST",
                                       timeout=timeout_s * 1000) as resp:
            self.page.evaluate("() => app.queuePrompt(0, 1)")
        answer = resp.value.json()
        if resp.value.status != 200:
            raise AssertionError(f"/prompt refused the page's prompt: {answer}")
        body = self.prompts[before]
        body["_prompt_id"] = answer["prompt_id"]
        return body

    def screenshot(self, path: Path) -> Path:
        self.page.screenshot(path=str(path))
        return path

    def graph_screenshot(self, margin: int = 16) -> bytes:
        """PNG of the page clipped to the graph's screen box (the saved view keeps it clear of the UI)."""
        boxes = [n["screen"] for n in self.nodes()]
        x0, y0 = max(0, min(b[0] for b in boxes) - margin), max(0, min(b[1] for b in boxes) - margin)
        x1 = min(VIEWPORT["width"], max(b[2] for b in boxes) + margin)
        y1 = min(VIEWPORT["height"], max(b[3] for b in boxes) + margin)
        return self.page.screenshot(clip={"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0})


@contextlib.contextmanager
def open_page(url: str):
    """A fresh headless Chromium profile on ComfyUI at ``url``; yields a ComfyPage."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} not found: run `bash scripts/install_browser.sh` "
                                "(or set SVFR_CHROMIUM to a Chromium binary)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="svfr-chromium-") as profile, sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=str(CHROMIUM), args=FLAGS,
                                                    headless=True, viewport=VIEWPORT)
        try:
            ctx.add_init_script(RECORD_TEXT)
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            cp = ComfyPage(page, url)
            cp.open()
            yield cp
        finally:
            ctx.close()
