#!/usr/bin/env python3
"""Saves a llama-server's raw answers, as evidence of its dialect.

    capture.py http://127.0.0.1:PORT DIR [--key KEY]

Sends the requests below to the server (completions and chat; without log-probs and
with them in every way a client may ask; n = 1, 2 and 8) and writes each raw answer
body to DIR/NAME.json, plus DIR/INDEX.md listing, per file, the request and the HTTP
status. Bodies over 20 KB have their longest arrays cut (noted in INDEX.md). With
--key KEY the server is one started with `--api-key KEY`: only the answers to the
right key, a wrong key and no key are saved (appended to INDEX.md). realserver.sh
calls it when QZ_REALSERVER_ANSWERS is set.
"""

import argparse
import json
import os
import urllib.error
import urllib.request

PROMPT = "Write a haiku about rivers:"
MESSAGES = [{"role": "user", "content": "Name a river."}]
SAMPLING = {"max_tokens": 6, "temperature": 1.0, "top_p": 1.0, "top_k": -1, "min_p": 0.0,
            "seed": 42}
LIMIT = 20000


def request(base, method, path, body=None, key=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def trim(x, keep=4):
    """Cuts every list longer than `keep` (recursively) and says how many were cut."""
    if isinstance(x, list):
        out = [trim(v, keep) for v in x[:keep]]
        if len(x) > keep:
            out.append("... %d more entries cut by capture.py ..." % (len(x) - keep))
        return out
    if isinstance(x, dict):
        return {k: trim(v, keep) for k, v in x.items()}
    return x


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("dir")
    parser.add_argument("--key")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    index = [] if args.key else ["# Raw answers of llama-server (node-llama-cpp 3.22.1 bundle) to the tiny model",
             "", "Written by tests/realserver/capture.py; the server runs with "
             "`-c 2048 --parallel 4`. Requests send `%s` besides what is shown." %
             json.dumps(SAMPLING), "",
             "| file | request | status | notes |", "|---|---|---|---|"]

    def save(name, method, path, body=None, shown=None, key=args.key, raw=None):
        status, _, data = request(args.base, method, path, body, key, raw)
        note = []
        try:
            doc = json.loads(data)
            text = json.dumps(doc, indent=1, ensure_ascii=False)
            if len(text) > LIMIT:
                text = json.dumps(trim(doc), indent=1, ensure_ascii=False)
                note.append("long arrays cut to 4 entries")
        except ValueError:
            text = data.decode("utf-8", "replace")
            note.append("not JSON")
        with open(os.path.join(args.dir, name + ".json"), "w", encoding="utf-8") as f:
            f.write(text + "\n")
        shown = shown if shown is not None else (json.dumps(body) if body is not None else "")
        index.append("| `%s.json` | `%s %s` %s | %d | %s |" % (
            name, method, path, ("`%s`" % shown) if shown else "", status, "; ".join(note)))
        return status

    if args.key:
        index += ["", "With `--api-key`:", "", "| file | request | status | notes |", "|---|---|---|---|"]
        body = {"model": "tiny", "prompt": PROMPT, "n": 1}
        save("key-right", "POST", "/v1/completions", {**body, **SAMPLING},
             json.dumps(body) + " with the right Bearer key")
        save("error-wrong-key", "POST", "/v1/completions", {**body, **SAMPLING},
             json.dumps(body) + " with a wrong Bearer key", key="sk-wrong")
        save("error-no-key", "POST", "/v1/completions", {**body, **SAMPLING},
             json.dumps(body) + " without a key", key="")
        save("key-models-no-key", "GET", "/v1/models", shown="without a key", key="")
        save("key-props-no-key", "GET", "/props", shown="without a key", key="")
        save("key-health-no-key", "GET", "/health", shown="without a key", key="")
        with open(os.path.join(args.dir, "INDEX.md"), "a", encoding="utf-8") as f:
            f.write("\n".join(index) + "\n")
        return
    save("props", "GET", "/props")
    save("models", "GET", "/v1/models")
    save("health", "GET", "/health")
    save("slots", "GET", "/slots")
    for n in (1, 2, 8):
        base = {"model": "tiny", "prompt": PROMPT, "n": n}
        save("completions-n%d" % n, "POST", "/v1/completions", {**base, **SAMPLING}, json.dumps(base))
        lp = {**base, "logprobs": 2}
        save("completions-logprobs-n%d" % n, "POST", "/v1/completions", {**lp, **SAMPLING},
             json.dumps(lp))
        base = {"model": "tiny", "messages": MESSAGES, "n": n}
        save("chat-n%d" % n, "POST", "/v1/chat/completions", {**base, **SAMPLING}, json.dumps(base))
        lp = {**base, "logprobs": True, "top_logprobs": 2}
        save("chat-logprobs-n%d" % n, "POST", "/v1/chat/completions", {**lp, **SAMPLING},
             json.dumps(lp))
    # How else a client may ask for log-probs, at n = 1.
    lp = {"model": "tiny", "prompt": PROMPT, "n": 1, "logprobs": 0}
    save("completions-logprobs0-n1", "POST", "/v1/completions", {**lp, **SAMPLING}, json.dumps(lp))
    lp = {"model": "tiny", "prompt": PROMPT, "n": 1, "logprobs": True}
    save("completions-logprobs-true-n1", "POST", "/v1/completions", {**lp, **SAMPLING},
         json.dumps(lp))
    lp = {"model": "tiny", "messages": MESSAGES, "n": 1, "logprobs": True, "top_logprobs": 0}
    save("chat-logprobs-top0-n1", "POST", "/v1/chat/completions", {**lp, **SAMPLING},
         json.dumps(lp))
    lp = {"model": "tiny", "messages": MESSAGES, "n": 1, "logprobs": True}
    save("chat-logprobs-notop-n1", "POST", "/v1/chat/completions", {**lp, **SAMPLING},
         json.dumps(lp))
    # A stop string: choices shorter than max_tokens, usage of choice 0 only, and
    # log-probs that lack the last tokens (or are null) when a stop string ended a choice.
    for name, path, base in (
            ("completions-logprobs-stop-n4", "/v1/completions",
             {"model": "tiny", "prompt": PROMPT, "n": 4, "logprobs": 1}),
            ("chat-logprobs-stop-n4", "/v1/chat/completions",
             {"model": "tiny", "messages": MESSAGES, "n": 4, "logprobs": True, "top_logprobs": 1})):
        body = {**base, "stop": [" "], "max_tokens": 30, "seed": 7}
        save(name, "POST", path, {**SAMPLING, **body}, json.dumps(body))
    # A model name the server does not have, and errors.
    body = {"model": "no-such-model", "prompt": PROMPT, "n": 1}
    save("completions-other-model", "POST", "/v1/completions", {**body, **SAMPLING}, json.dumps(body))
    save("error-bad-json", "POST", "/v1/completions", raw=b"{not json", shown="{not json")
    body = {"model": "tiny", "n": 1}
    save("error-no-prompt", "POST", "/v1/completions", {**body, **SAMPLING}, json.dumps(body))
    body = {"model": "tiny", "prompt": PROMPT, "n": 1, "max_tokens": "many"}
    save("error-bad-field", "POST", "/v1/completions", body, json.dumps(body))
    save("error-not-found", "GET", "/v1/nothing")
    with open(os.path.join(args.dir, "INDEX.md"), "a", encoding="utf-8") as f:
        f.write("\n".join(index) + "\n")


if __name__ == "__main__":
    main()
