#!/usr/bin/env python3
"""A logging HTTP proxy in front of a model server, for tests/realserver/realserver.sh.

    logproxy.py --upstream http://127.0.0.1:PORT --port-file FILE --log LOG.jsonl

Listens on a free port of 127.0.0.1 (written to FILE once it listens), forwards every
request to the upstream server unchanged (keep-alive towards the client, one upstream
connection per request) and appends one JSON line per exchange to LOG:
{"method", "path", "request": body as JSON or null, "status", "response": body as JSON
or null}. The test uses it to compare what quantilize recorded with what the server
really answered.
"""

import argparse
import http.client
import http.server
import json
import os
import threading
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "content-length", "host"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    upstream = urllib.parse.urlsplit(args.upstream)
    lock = threading.Lock()
    log = open(args.log, "a", encoding="utf-8")

    def as_json(data):
        try:
            return json.loads(data)
        except ValueError:
            return None

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
            try:
                conn.request(self.command, self.path, body=body or None, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                status, reply_headers = answer.status, answer.getheaders()
            except OSError as e:
                data = json.dumps({"error": "logproxy: upstream: %s" % e}).encode()
                status, reply_headers = 502, [("Content-Type", "application/json")]
            finally:
                conn.close()
            with lock:
                log.write(json.dumps({"method": self.command, "path": self.path,
                                      "request": as_json(body) if body else None,
                                      "status": status, "response": as_json(data)}) + "\n")
                log.flush()
            self.send_response(status)
            for k, v in reply_headers:
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
