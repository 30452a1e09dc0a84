"""A small Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (no extra package).

Chromium reads commands from fd 3 and writes replies and events to fd 4, one JSON message
each, ended by a NUL byte. ``open_page`` loads a file, collects console messages,
exceptions and network requests, and can evaluate expressions and take screenshots.
"""
from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars")


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    def __init__(self, binary: str, timeout_s: float = 60.0):
        self.timeout_s = timeout_s
        self.profile = tempfile.mkdtemp(prefix="mlr-chromium-")  # a fresh profile every time
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        cmd = " ".join([f"exec '{binary}'", *CHROMIUM_FLAGS, f"--user-data-dir='{self.profile}'",
                        "--remote-debugging-pipe", f"3<&{to_chrome_r}", f"4>&{from_chrome_w}"])
        self.proc = subprocess.Popen(["bash", "-c", cmd], pass_fds=(to_chrome_r, from_chrome_w),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next_id = 0
        self._replies: dict[int, queue.Queue] = {}
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_chrome, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._lock:
                        q = self._replies.get(msg["id"])
                    if q is not None:
                        q.put(msg)
                else:
                    with self._lock:
                        self.events.append(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            n = self._next_id
            q: queue.Queue = queue.Queue()
            self._replies[n] = q
        msg = {"id": n, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        reply = q.get(timeout=self.timeout_s)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, session: str, timeout_s: float | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while time.monotonic() < deadline:
            with self._lock:
                for e in self.events:
                    if e.get("method") == method and e.get("sessionId") == session:
                        return e
            time.sleep(0.05)
        raise TimeoutError(f"no {method} within the time limit")

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except Exception:  # noqa: BLE001 - it may be gone already
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """One tab showing ``path``; ``problems()`` lists console errors, exceptions and requests."""

    def __init__(self, browser: Browser, path: Path, width: int = 1200, height: int = 900):
        self.b = browser
        self.url = path.resolve().as_uri()
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=self.session)
        browser.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                             "deviceScaleFactor": 1, "mobile": False},
                     session=self.session)
        browser.send("Page.navigate", {"url": self.url}, session=self.session)
        browser.wait_event("Page.loadEventFired", self.session)

    def _events(self, method: str) -> list[dict[str, Any]]:
        with self.b._lock:
            return [e for e in self.b.events if e.get("method") == method and e.get("sessionId") == self.session]

    def requests(self) -> list[str]:
        """URLs the page asked for, other than the page itself."""
        return [e["params"]["request"]["url"] for e in self._events("Network.requestWillBeSent")
                if e["params"]["request"]["url"] != self.url]

    def errors(self) -> list[str]:
        out = [json.dumps(e["params"]["args"])[:300] for e in self._events("Runtime.consoleAPICalled")
               if e["params"].get("type") in ("error", "assert")]
        out += [e["params"]["exceptionDetails"].get("text", "exception") for e in self._events("Runtime.exceptionThrown")]
        out += [e["params"]["entry"].get("text", "") for e in self._events("Log.entryAdded")
                if e["params"]["entry"].get("level") == "error"]
        return out

    def evaluate(self, expression: str) -> Any:
        result = self.b.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                             session=self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def visible(self, selector: str) -> bool:
        """Whether an element matching ``selector`` is laid out with a non-empty box."""
        return bool(self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return false;"
            " const r = e.getBoundingClientRect(); const s = getComputedStyle(e);"
            " return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; })()"))

    def screenshot(self, out: Path, selector: str | None = None) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if selector:
            self.evaluate(f"document.querySelector({json.dumps(selector)}).scrollIntoView()")
        data = self.b.send("Page.captureScreenshot", params, session=self.session)["data"]
        out.write_bytes(base64.b64decode(data))
        return out
