#!/usr/bin/python3
"""A hostile OpenAI-compatible server for tests/http/hostile.sh (standard library only).

    hostile_server.py --port-file PATH [--seconds-limit 600]

Binds 127.0.0.1 only, on a free port written to PATH (via PATH.tmp + rename). The first
path element picks the behaviour; the rest must be /v1/completions (POST):

  /badutf8/v1/...   200, every text holds invalid UTF-8 (raw bytes 0xff, 0xc3 0x28)
  /control/v1/...   200, every text holds ESC sequences, a C1 CSI and a BEL
  /huge/v1/...      odd requests: 200 with a 300 MB body (sent in 1 MiB pieces);
                    even requests: a normal answer
  /bomb/v1/...      odd requests: 200, Content-Encoding: gzip, a small body that
                    inflates to 1 GiB of zeros (about 1 MB sent); even requests: a normal answer
  /echo401/v1/...   401 whose body echoes the Authorization header (raw, and inside
                    a JSON message)
  /ctl400/v1/...    400 whose message holds ESC sequences

A normal answer has n choices (the request's n) of the text "fine text". Exits after
--seconds-limit seconds or on SIGTERM.
"""
import argparse
import json
import os
import signal
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNT = {"huge": 0, "bomb": 0}
LOCK = threading.Lock()
BOMB = None  # gzip bytes, made at start


def make_bomb(size):
    """A gzip member inflating to `size` zero bytes."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    piece = bytes(1 << 20)
    out = [comp.compress(piece) for _ in range(size >> 20)]
    out.append(comp.flush())
    return b"".join(out)


def answer(n, text):
    choices = [{"index": k, "text": text, "finish_reason": "length"} for k in range(n)]
    return {"id": "x", "object": "text_completion", "model": "m", "choices": choices,
            "usage": {"prompt_tokens": 1, "completion_tokens": n, "total_tokens": n + 1}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.send(200, b'{"object": "list", "data": []}')

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            req = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            req = {}
        n = req.get("n") or 1
        mode = self.path.split("/")[1]
        try:
            self.serve(mode, n)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def serve(self, mode, n):
        if mode == "badutf8":
            body = json.dumps(answer(n, "ok XX and YY end")).encode()
            body = body.replace(b"XX", b"\xff").replace(b"YY", b"\xc3\x28")
            self.send(200, body)
        elif mode == "control":
            self.send(200, json.dumps(answer(n, "red \x1b[31mRED\x1b[0m \x1b]0;title\x07"
                                               " csi \u009b2J end")).encode())
        elif mode in ("huge", "bomb"):
            with LOCK:
                COUNT[mode] += 1
                odd = COUNT[mode] % 2 == 1
            if not odd:
                self.send(200, json.dumps(answer(n, "fine text")).encode())
            elif mode == "bomb":
                self.send(200, BOMB, [("Content-Encoding", "gzip")])
            else:
                size = 300 << 20
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                piece = b" " * (1 << 20)
                for _ in range(size >> 20):
                    self.wfile.write(piece)
        elif mode == "echo401":
            auth = self.headers.get("Authorization", "")
            msg = {"error": {"message": "invalid credentials: " + auth}, "raw": auth}
            self.send(401, json.dumps(msg).encode())
        elif mode == "ctl400":
            msg = {"error": {"message": "bad \x1b[2J\x1b[31mrequest\x1b[0m here"}}
            self.send(400, json.dumps(msg).encode())
        else:
            self.send(404, b'{"error": "no such mode"}')


def main():
    global BOMB
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--seconds-limit", type=float, default=600)
    args = ap.parse_args()
    BOMB = make_bomb(1 << 30)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(tmp, args.port_file)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    timer = threading.Timer(args.seconds_limit, lambda: os._exit(0))
    timer.daemon = True
    timer.start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
