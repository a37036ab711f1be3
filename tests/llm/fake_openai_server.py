"""A tiny OpenAI-compatible server (stdlib only) for backend tests.

Modes: ``ok``, ``slow`` (sleeps past the client timeout), ``error500``,
``flaky`` (first ``fail_first`` requests get 500), ``nologprobs``, ``garbage``
(200 with a non-OpenAI body). "Down" is simulated by a closed port.
Replies are deterministic: numbered steps echoing the last user message.
Completions with echo return word-level logprobs: a word already present in
the prompt gets -0.1, any other word -3.0, so the "obvious" option wins.
"""
from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class FakeOpenAIServer:
    def __init__(self) -> None:
        self.mode = "ok"
        self.fail_first = 0
        self.delay_s = 0.0
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self.max_inflight = 0
        self._inflight = 0
        srv = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def _send(self, code: int, obj) -> None:
                data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(n) or b"{}")
                with srv._lock:
                    srv.requests.append({"path": self.path, "body": body,
                                         "auth": self.headers.get("Authorization")})
                    k = len(srv.requests)
                    srv._inflight += 1
                    srv.max_inflight = max(srv.max_inflight, srv._inflight)
                try:
                    srv._handle(self, body, k)
                finally:
                    with srv._lock:
                        srv._inflight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # ------------------------------------------------------------------
    def _handle(self, h, body: dict, k: int) -> None:
        if self.mode == "slow":
            time.sleep(2.0)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.mode == "error500" or (self.mode == "flaky" and k <= self.fail_first):
            return h._send(500, {"error": {"message": "internal error"}})
        if self.mode == "garbage":
            return h._send(200, {"unexpected": True})
        if h.path.endswith("/chat/completions"):
            return h._send(200, self._chat(body))
        if h.path.endswith("/completions"):
            if self.mode == "nologprobs":
                return h._send(200, {"choices": [{"text": "x", "logprobs": None}]})
            return h._send(200, self._completion(body))
        return h._send(404, {"error": {"message": f"no route {h.path}"}})

    def _chat(self, body: dict) -> dict:
        msgs = body.get("messages") or []
        user = next((m["content"] for m in reversed(msgs) if m["role"] == "user"), "")
        text = f"1. You said: {user[:40]}\n2. Seed {body.get('seed')}\n3. Genre: Drama"
        if msgs and msgs[-1]["role"] == "assistant":  # prefill: continue it
            text = text[len(msgs[-1]["content"]):] if text.startswith(msgs[-1]["content"]) else text
        ntok = len(text.split())
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        if body.get("logprobs"):
            choice["logprobs"] = {"content": [{"token": w, "logprob": -0.5} for w in text.split()]}
        return {"id": "x", "object": "chat.completion", "model": body.get("model"), "choices": [choice],
                "usage": {"prompt_tokens": 1, "completion_tokens": ntok, "total_tokens": ntok + 1}}

    def _completion(self, body: dict) -> dict:
        prompt = body["prompt"]
        toks, offs = [], []
        for m in re.finditer(r"\s*\S+", prompt):
            toks.append(m.group(0))
            offs.append(m.start())
        seen: set[str] = set()
        lps: list[float | None] = []
        for i, t in enumerate(toks):
            w = t.strip().lower().strip(".,?!")
            lps.append(None if i == 0 else (-0.1 if w in seen else -3.0))
            seen.add(w)
        toks.append(" end")
        offs.append(len(prompt))
        lps.append(-1.0)
        return {"choices": [{"text": prompt + " end", "index": 0,
                             "logprobs": {"tokens": toks, "token_logprobs": lps, "text_offset": offs}}]}
