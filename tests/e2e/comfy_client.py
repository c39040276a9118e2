"""A small stdlib client for a running ComfyUI server: /prompt, /history, /object_info, /interrupt,
/view, and a minimal websocket reader for progress events (to interrupt at the right moment).

Starts nothing; see conftest.py for the server fixture.
"""
from __future__ import annotations

import base64
import json
import os
import queue
import socket
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field


class PromptRejected(Exception):
    """HTTP 400 from /prompt: validation failed. ``detail`` holds ComfyUI's JSON answer."""

    def __init__(self, detail: dict):
        self.detail = detail
        super().__init__(json.dumps(detail)[:2000])


@dataclass
class PromptResult:
    prompt_id: str
    status: str  # "success" | "error"
    outputs: dict
    messages: list = field(default_factory=list)  # [(event, data), ...] from history
    elapsed_s: float = 0.0

    def event(self, name: str) -> dict | None:
        for ev, data in self.messages:
            if ev == name:
                return data
        return None

    def files(self, node_id: str | None = None) -> list[dict]:
        out = []
        for nid, node_out in self.outputs.items():
            if node_id is not None and nid != node_id:
                continue
            for items in node_out.values():
                if isinstance(items, list):
                    out += [i for i in items if isinstance(i, dict) and "filename" in i]
        return out


class ComfyClient:
    def __init__(self, base_url: str, timeout: float = 30.0):
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.client_id = str(uuid.uuid4())

    # -- plain HTTP -------------------------------------------------------------------------
    def _get(self, path: str, timeout: float | None = None):
        with urllib.request.urlopen(self.base + path, timeout=timeout or self.timeout) as r:
            raw = r.read()
        return json.loads(raw) if raw[:1] in (b"{", b"[") else raw

    def _post(self, path: str, payload: dict):
        req = urllib.request.Request(self.base + path, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout) as r:
            raw = r.read()
        return json.loads(raw) if raw[:1] in (b"{", b"[") else raw

    def object_info(self, node_class: str | None = None) -> dict:
        path = "/object_info" + (f"/{urllib.parse.quote(node_class)}" if node_class else "")
        return self._get(path, timeout=120)

    def queue_prompt(self, workflow: dict) -> str:
        try:
            reply = self._post("/prompt", {"prompt": workflow, "client_id": self.client_id})
        except urllib.error.HTTPError as e:
            if e.code == 400:
                raise PromptRejected(json.loads(e.read().decode() or "{}")) from None
            raise
        return reply["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 600.0, poll: float = 0.5) -> PromptResult:
        t0 = time.monotonic()
        while True:
            hist = self._get(f"/history/{urllib.parse.quote(prompt_id)}")
            entry = hist.get(prompt_id) if isinstance(hist, dict) else None
            if entry and entry.get("status", {}).get("completed") is not None:
                st = entry.get("status") or {}
                msgs = [(m[0], m[1]) for m in st.get("messages", []) if isinstance(m, list) and len(m) == 2]
                bad = any(ev in ("execution_error", "execution_interrupted") for ev, _ in msgs)
                ok = st.get("status_str") == "success" and not bad
                return PromptResult(prompt_id, "success" if ok else "error", entry.get("outputs", {}),
                                    msgs, time.monotonic() - t0)
            if time.monotonic() - t0 > timeout:
                self.interrupt()
                raise TimeoutError(f"prompt {prompt_id} not finished after {timeout:.0f}s (interrupted)")
            time.sleep(poll)

    def run(self, workflow: dict, timeout: float = 600.0) -> PromptResult:
        return self.wait(self.queue_prompt(workflow), timeout)

    def interrupt(self) -> None:
        self._post("/interrupt", {})

    def cancel(self, prompt_id: str, timeout: float = 120.0) -> None:
        """Take a queued prompt off the queue, or stop it if it already runs, and wait until it is gone."""
        self._post("/queue", {"delete": [prompt_id]})
        t0 = time.monotonic()
        while True:
            queue = self._get("/queue")
            running = [item[1] for item in queue.get("queue_running", [])]
            pending = [item[1] for item in queue.get("queue_pending", [])]
            if prompt_id not in running and prompt_id not in pending:
                return
            if prompt_id in running:
                self.interrupt()
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"prompt {prompt_id} still queued or running after {timeout:.0f}s")
            time.sleep(0.5)

    def view(self, file: dict) -> bytes:
        q = urllib.parse.urlencode({"filename": file["filename"], "subfolder": file.get("subfolder", ""),
                                    "type": file.get("type", "output")})
        return self._get(f"/view?{q}", timeout=120)

    def listen(self) -> "WsListener":
        host, port = urllib.parse.urlsplit(self.base).netloc.rsplit(":", 1)
        return WsListener(host, int(port), self.client_id)


class WsListener:
    """Reads ComfyUI's /ws JSON messages in a thread (RFC 6455 subset: unfragmented text/binary,
    ping/pong, close). ``messages`` is a queue of decoded JSON dicts; binary previews are dropped."""

    def __init__(self, host: str, port: int, client_id: str):
        self.sock = socket.create_connection((host, port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws?clientId={client_id} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            head += chunk
        status_line = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status_line:
            raise ConnectionError(f"websocket handshake refused: {status_line!r}")
        self._buf = head.split(b"\r\n\r\n", 1)[1]
        self.messages: queue.Queue = queue.Queue()
        self._closed = False
        self.sock.settimeout(None)
        self._thread = threading.Thread(target=self._reader, daemon=True)
        self._thread.start()

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _send(self, opcode: int, payload: bytes = b"") -> None:
        mask = os.urandom(4)  # client frames must be masked
        header = bytes([0x80 | opcode, 0x80 | len(payload)])  # control frames only: < 126 bytes
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _reader(self) -> None:
        try:
            while not self._closed:
                b0, b1 = self._read(2)
                opcode, length = b0 & 0x0F, b1 & 0x7F
                if length == 126:
                    length = struct.unpack(">H", self._read(2))[0]
                elif length == 127:
                    length = struct.unpack(">Q", self._read(8))[0]
                mask = self._read(4) if b1 & 0x80 else None
                payload = self._read(length)
                if mask:
                    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                if opcode == 1:
                    try:
                        self.messages.put(json.loads(payload.decode()))
                    except ValueError:
                        pass
                elif opcode == 9:
                    self._send(10, payload)
                elif opcode == 8:
                    break
        except (OSError, ConnectionError, ValueError):
            pass

    def wait_for(self, predicate, timeout: float) -> dict:
        """Return the first message for which ``predicate(msg)`` is true (TimeoutError otherwise)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching websocket message")
            try:
                msg = self.messages.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if predicate(msg):
                return msg

    def close(self) -> None:
        self._closed = True
        try:
            self._send(8)
        except OSError:
            pass
        self.sock.close()
