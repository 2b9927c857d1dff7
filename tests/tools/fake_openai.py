#!/usr/bin/python3
"""A fake OpenAI-compatible server for the quantilize tests (standard library only).

    fake_openai.py --port-file PATH [--port 0] [--ignore-n] [--seconds-limit 3600]
                   [--log PATH] [--verbose] [--cpu-per-sample SECONDS]
                   [--rate SAMPLES_PER_SECOND] [--seconds-per-token SECONDS]

Binds 127.0.0.1 only (never any other address) on --port (0: a free port chosen by
the OS), then writes the port number to PATH (via PATH.tmp + rename, so a reader
never sees a partial file). Serves HTTP/1.1 with keep-alive until SIGTERM/SIGINT or
until --seconds-limit seconds have passed, then removes PATH (if it still holds our
port) and exits 0. stderr stays quiet unless --verbose. --log PATH appends one line
per request: "UNIXTIME METHOD PATH STATUS FAULT" (STATUS 000 for a reset
connection, FAULT "-" for none). Request headers are never logged or stored.

Endpoints (all JSON; errors are {"error": {"message", "type", "code"}})
-----------------------------------------------------------------------
GET  /health               200 {"status": "ok"}
GET  /v1/models            200 {"object": "list", "data": [{"id": "fake-model", ...}]}
POST /v1/completions       body: model (required), prompt (string, or list of strings),
                           n=1, max_tokens=16, temperature=1.0, seed=0, stop (str or
                           list), logprobs (int or null); anything else is accepted and
                           ignored (top_p, top_k, min_p, ...). "stream": true -> 400.
POST /v1/chat/completions  body: model, messages [{role, content}] (content: a string
                           or a list of {"type": "text", "text": ...} parts), n,
                           max_tokens (or max_completion_tokens), temperature, seed,
                           stop, logprobs (bool), top_logprobs (int 0..20).

Validation (400, type "invalid_request_error"): body not JSON or not an object,
missing/non-string model, missing prompt/messages, n not an integer >= 1, max_tokens
not an integer >= 1, n * max_tokens * prompts > 4,000,000, stream true. Unknown path
-> 404, wrong method -> 405.

The text model: choice k of a request (k = 0..n-1) with seed S (absent/null -> 0),
prompt text P (chat: the message contents joined with "\\n") and temperature T
(absent/null -> 1.0, always formatted as a Python float repr, so 1 and 1.0 agree)
uses random.Random(int.from_bytes(sha256(f"{S}|{k}|{P}|{T}").digest()[:8], "big")),
and for each of max_tokens tokens draws  word = rng.choice(VOCAB)  then
logprob = round(-rng.uniform(0.01, 5.0), 6).  Token i is " " + word; the text is the
tokens concatenated. So (S, k, P, T, max_tokens) fixes the text on any connection, in
any order, on any server instance. top_p, top_k etc. do not affect it. With a list
prompt, choice index is i*n + k for prompt i (each prompt uses its own P).
stop: the text is cut before the first occurrence of any (non-empty) stop string, the
token list is cut to match (the last token may be partial, so "".join(tokens) ==
text), and finish_reason is "stop"; otherwise it is "length".
usage: prompt_tokens = len(P.split()) (summed over prompts), completion_tokens = the
number of tokens returned over all choices, total_tokens = their sum.
Completions "logprobs" (if the request's logprobs is not null):
  {"tokens": [...], "token_logprobs": [...], "top_logprobs": null,
   "text_offset": [offset of each token within the choice's text, from 0]}
Chat "logprobs" (if the request's logprobs is true):
  {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}, ...]}
  top_logprobs has top_logprobs entries: the token itself, then other vocabulary
  words with logprob - 0.5*j.
--ignore-n: always exactly one choice (index 0, i.e. k = 0).

Dialects (--dialect NAME; the texts are the same in every dialect, only the shape of
the answers differs):
  default  as described above (legacy token_logprobs on completions, content[] on
           chat; chat log-probs with top_logprobs 0 too; the request's model echoed)
  openai   as default, plus "system_fingerprint": "fp_fake"
  llama    llama.cpp's llama-server (tests/realserver/README.md): log-probs only as
           logprobs.content[j].logprob on BOTH endpoints; completions attach them for
           "logprobs" true or an integer >= 1 (0 or null: "logprobs": null); chat only
           with "logprobs": true and top_logprobs >= 1 (absent: 20 alternatives; 0:
           none); n above --slots (default 4) -> 400 "Field 'n': Value must be between
           1 <= value <= 4, but got 8"; usage.completion_tokens counts choice 0 only;
           "model": "tiny.gguf" whatever was asked; "system_fingerprint": "b1-fake";
           GET /props -> {"total_slots": SLOTS, ...}. A choice that ended on a stop
           string loses the log-prob of its last token, and has none at all
           (completions "logprobs": null, chat no "logprobs" key) when it has at most
           two tokens.
  vllm     vLLM: content[] on chat, token_logprobs on completions, n honoured, no
           system_fingerprint
  ollama   Ollama's OpenAI-compatible API: n ignored (one choice), chat log-probs as
           content[], completions never carry log-probs, "system_fingerprint":
           "fp_ollama"
  tgi      text-generation-inference's Messages API: n ignored (one choice), chat
           log-probs as content[], completions without log-probs, "model":
           "fake/tgi-model", "system_fingerprint": "3.0.0-native"
Pace (the cost of producing text; all off by default, and they never change a text):
--rate SAMPLES_PER_SECOND  the server produces at most that many choices per second in
           all (completions and chat; reward endpoints are not paced). A request for
           c choices reserves the next c slots of 1/RATE seconds each, in the order
           requests reach this point, and is answered when its last slot ends: a
           request waits behind those before it, an idle server has no credit saved
           up, and a request the client gave up on keeps its slots. The waiting is
           sleeping (no CPU). "A server answering 2 samples/s": --rate 2.
--cpu-per-sample SECONDS   each choice costs that much CPU time (a busy loop timed with
           the thread's CPU clock) under one global lock, so the server is a CPU-bound
           stand-in for a model server that can use one core: requests take their
           turns (a request computes all its choices in one turn, so the lock changes
           hands once a request, however many are open), and on a loaded machine a
           choice takes longer than SECONDS of wall time. With --rate too, a request
           first waits for its slots, then computes.
--seconds-per-token SECONDS  a request is answered SECONDS x (the token count of its
           longest choice) after its text is made, sleeping, with no lock: requests
           are decoded side by side, as by a batching model server (vLLM, llama.cpp
           with parallel slots), and a request lasts as long as its longest output.
           With a stop string the outputs vary in length. Applies after --rate and
           --cpu-per-sample.
--change-after N: after N answered work requests, system_fingerprint gains "-changed"
(a server upgraded mid-run). A prompt containing "EMIT_NUL" gives choice k = 1 a text
with a NUL character in its middle (JSON \u0000).

Reward endpoints.  score(t) = t.count("good") + 0.001 * len(t.encode("utf-8"))
(substring count, case-sensitive; UTF-8 byte length).
POST /get_reward  {"query": [str, ...]}                -> {"rewards": [score(q), ...]}
POST /score       {"model"?, "text_1": str | [str], "text_2": str | [str]}
                  -> {"object": "list", "model", "data": [{"index": i,
                      "object": "score", "score": score(text_1 + text_2[i])}]}
                  (text_1 a list: paired element-wise with text_2, or one broadcast)
POST /classify    {"model"?, "input": str | [str]}
                  -> {"object": "list", "model", "data": [{"index": i, "label",
                      "probs": [1 - p, p], "num_classes": 2}]}
                  with p = 1 / (1 + exp(-score(input[i]))), label "LABEL_1" if p >= 0.5.

Fault injection.  KIND is one of:
  429        429, header "Retry-After: 1", JSON error body (type "rate_limit_error")
  429ms      429, header "retry-after-ms: 200", no Retry-After
  500, 503   that status, JSON error body (type "server_error")
  400        400 {"error": {"message": "fake: bad request injected", ...}}
  slow       sleep DELAY seconds (default 10) then answer normally; only that
             handler thread sleeps
  malformed  200, Content-Type application/json, body "{not json"
  truncated  200 headers with the full Content-Length, half the body, then close
             (curl exit 18)
  reset      close the socket with SO_LINGER 0, no response (RST; curl exit 56/52)
Where a request's fault comes from, first match wins:
 1. The prompt (completions: any prompt; chat: any message content; reward
    endpoints: any text) contains "FAULT:KIND" (or "FAULT:slow:SECONDS"): the
    request fails that way EVERY time.
 2. Header "X-Fault: KIND" (every request carrying it fails), or "X-Fault: KIND:COUNT":
    the first COUNT requests with the same header value and the same key fail and
    later ones are served normally. The key is the "X-Fault-Key" header if given,
    else method + path + body, so a client retrying the same request sees COUNT
    failures, then success. "X-Fault-Delay: SECONDS" sets the slow delay.
 3. Globally armed faults: POST /_control/fault {"kind", "count": 1, "path": null,
    "delay": 10} queues a fault: the next COUNT matching requests fail (count -1:
    forever). "path" is an exact path; without it the fault matches only the POST
    work endpoints (completions, chat, reward), never /health or /v1/models.
    Several armed faults are consulted in arming order.
Control endpoints (never faulted, never counted in "requests"):
  POST /_control/fault   arm, -> {"armed": [...]}
  POST /_control/reset   clear stats, armed faults, X-Fault counters, request history
  GET  /_control/stats   -> {"requests": N, "by_path": {path: n}, "by_status":
                             {"200": n}, "faults_served": {kind: n}, "choices_served": n,
                             "texts_scored": n, "auth_seen": bool, "armed": [...]}
                          requests, by_path and faults_served count a request
                          when it arrives (a slow one at once); by_status when its
                          answer is out ("000": reset), and not for requests that
                          arrived before the last reset. auth_seen: whether the most
                          recent non-control request carried an Authorization
                          header (the value is never kept).
  GET  /_control/requests -> {"requests": [{"method", "path", "status", "fault",
                             "body"}, ...]}  the last 256 non-control requests in
                             arrival order with their parsed JSON bodies (null if not
                             JSON); status is null while the request is in flight.
"""

import argparse
import hashlib
import http.server
import io
import json
import math
import os
import random
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time

VOCAB = [
    "the", "a", "good", "bad", "cat", "dog", "house", "tree", "river", "stone",
    "light", "dark", "quick", "slow", "red", "blue", "green", "small", "large", "old",
    "new", "runs", "walks", "sees", "finds", "makes", "takes", "gives", "holds", "keeps",
    "and", "or", "but", "with", "under", "over", "near", "far", "today", "never",
    "always", "maybe", "bright", "quiet", "loud", "warm", "cold", "sky", "sea", "road",
]

FAULT_KINDS = ("429", "429ms", "500", "503", "400", "slow", "malformed", "truncated",
               "reset")
DEFAULT_SLOW = 10.0
MAX_BODY = 64 << 20
MAX_WORK = 4_000_000
WORK_PATHS = ("/v1/completions", "/v1/chat/completions", "/get_reward", "/score",
              "/classify")
PROMPT_FAULT_RE = re.compile(r"FAULT:(429ms|429|500|503|400|slow|malformed|truncated"
                             r"|reset)(?::(\d+(?:\.\d+)?))?")


def score_text(t):
    return t.count("good") + 0.001 * len(t.encode("utf-8"))


class BadRequest(Exception):
    pass


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.requests = 0
        self.by_path = {}
        self.by_status = {}
        self.faults_served = {}
        self.choices_served = 0
        self.texts_scored = 0
        self.auth_seen = False
        self.armed = []          # list of dicts {kind, count, path, delay}
        self.header_counts = {}  # (header value, key) -> failures served
        self.history = []
        self.next_id = 0
        self.generation = getattr(self, "generation", 0) + 1


STATE = State()
LOG = {"file": None, "lock": threading.Lock(), "verbose": False}


def parse_fault_spec(value):
    """'KIND' -> (kind, None); 'KIND:COUNT' -> (kind, COUNT). Raises BadRequest."""
    value = value.strip()
    kind, count = value, None
    if ":" in value:
        kind, c = value.rsplit(":", 1)
        try:
            count = int(c)
        except ValueError:
            raise BadRequest(f"X-Fault: bad count in {value!r}")
    if kind not in FAULT_KINDS:
        raise BadRequest(f"X-Fault: unknown fault kind {kind!r}")
    return kind, count


def as_int(body, name, default, minimum):
    v = body.get(name, default)
    if v is None:
        v = default
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise BadRequest(f"'{name}' must be an integer, got {json.dumps(v)}")
    if v < minimum:
        raise BadRequest(f"'{name}' must be >= {minimum}, got {v}")
    return v


def as_float(body, name, default):
    v = body.get(name, default)
    if v is None:
        v = default
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise BadRequest(f"'{name}' must be a number, got {json.dumps(v)}")
    return float(v)


def stop_list(body):
    s = body.get("stop")
    if s is None:
        return []
    if isinstance(s, str):
        s = [s]
    if not isinstance(s, list) or not all(isinstance(x, str) for x in s):
        raise BadRequest("'stop' must be a string or a list of strings")
    return [x for x in s if x]


def generate(seed, k, prompt, temperature, max_tokens, stops):
    """-> (tokens, logprobs, text, finish_reason)"""
    h = hashlib.sha256(f"{seed}|{k}|{prompt}|{temperature!r}".encode("utf-8"))
    rng = random.Random(int.from_bytes(h.digest()[:8], "big"))
    tokens, lps = [], []
    for _ in range(max_tokens):
        w = rng.choice(VOCAB)
        lp = round(-rng.uniform(0.01, 5.0), 6)
        tokens.append(" " + w)
        lps.append(lp)
    text = "".join(tokens)
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    if cut < 0:
        return tokens, lps, text, "length"
    text = text[:cut]
    out_t, out_l, pos = [], [], 0
    for t, lp in zip(tokens, lps):
        if pos >= cut:
            break
        out_t.append(t[:cut - pos])
        out_l.append(lp)
        pos += len(t)
    return out_t, out_l, text, "stop"


def seed_of(body):
    s = body.get("seed")
    if s is None:
        return 0
    if isinstance(s, bool) or not isinstance(s, int):
        raise BadRequest(f"'seed' must be an integer, got {json.dumps(s)}")
    return s


def new_id(prefix):
    with STATE.lock:
        STATE.next_id += 1
        return f"{prefix}-fake-{STATE.next_id}"


def common_params(body):
    if not isinstance(body.get("model"), str):
        raise BadRequest("'model' is required and must be a string")
    if body.get("stream"):
        raise BadRequest("fake: streaming is not supported")
    n = as_int(body, "n", 1, 1)
    mt = body.get("max_tokens")
    if mt is None:
        mt = body.get("max_completion_tokens")
    max_tokens = as_int({"max_tokens": mt}, "max_tokens", 16, 1)
    temperature = as_float(body, "temperature", 1.0)
    return n, max_tokens, temperature, seed_of(body), stop_list(body)


DIALECT = {"name": "default", "slots": 4, "change_after": None, "answered": 0}
DIALECTS = ("default", "openai", "llama", "vllm", "ollama", "tgi")
PACE = {"rate": None, "cpu": None, "per_token": None, "next": 0.0,
        "rate_lock": threading.Lock(), "cpu_lock": threading.Lock()}


def pace(choices):
    """--rate and --cpu-per-sample: what producing `choices` choices costs."""
    if choices <= 0:
        return
    if PACE["rate"]:
        with PACE["rate_lock"]:
            start = max(time.monotonic(), PACE["next"])
            PACE["next"] = end = start + choices / PACE["rate"]
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            time.sleep(left)
    if PACE["cpu"]:
        with PACE["cpu_lock"]:
            until = time.thread_time() + choices * PACE["cpu"]
            while time.thread_time() < until:
                pass


def decode_time(per_choice):
    """--seconds-per-token: a request lasts as long as its longest output."""
    if PACE["per_token"] and per_choice:
        time.sleep(PACE["per_token"] * max(per_choice))


def dialect_n(n, ignore_n):
    """The number of choices a dialect answers for a request asking for n."""
    d = DIALECT["name"]
    if ignore_n or d in ("ollama", "tgi"):
        return 1
    if d == "llama" and n > DIALECT["slots"]:
        raise BadRequest("Field 'n': Value must be between 1 <= value <= %d, but got %d"
                         % (DIALECT["slots"], n))
    return n


def with_nul(text, k, prompt):
    if "EMIT_NUL" in prompt and k == 1:
        half = len(text) // 2
        return text[:half] + "\x00" + text[half:]
    return text


def llama_stop_cut(content, fin):
    """llama.cpp's log-probs of a choice that ended on a stop string (None: none)."""
    if fin != "stop":
        return content
    if len(content) <= 2:
        return None
    return content[:-1]


def finish_answer(out, body, choice_tokens):
    """The dialect's model, fingerprint and usage on an answer."""
    d = DIALECT["name"]
    with STATE.lock:
        DIALECT["answered"] += 1
        changed = (DIALECT["change_after"] is not None
                   and DIALECT["answered"] > DIALECT["change_after"])
    fp = {"openai": "fp_fake", "llama": "b1-fake", "ollama": "fp_ollama",
          "tgi": "3.0.0-native"}.get(d)
    if d == "llama":
        out["model"] = "tiny.gguf"
        if choice_tokens:
            out["usage"]["completion_tokens"] = choice_tokens[0]
            out["usage"]["total_tokens"] = out["usage"]["prompt_tokens"] + choice_tokens[0]
    elif d == "tgi":
        out["model"] = "fake/tgi-model"
    if fp is None and changed:
        fp = "fp"
    if fp is not None:
        out["system_fingerprint"] = fp + ("-changed" if changed else "")
    return out


def do_completions(body, ignore_n):
    n, max_tokens, temperature, seed, stops = common_params(body)
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        prompts = [prompt]
    elif (isinstance(prompt, list) and prompt
          and all(isinstance(p, str) for p in prompt)):
        prompts = prompt
    else:
        raise BadRequest("'prompt' is required and must be a string or a list of strings")
    n = dialect_n(n, ignore_n)
    if n * max_tokens * len(prompts) > MAX_WORK:
        raise BadRequest("fake: n * max_tokens too large")
    pace(n * len(prompts))
    d = DIALECT["name"]
    want_lp = body.get("logprobs") is not None and body.get("logprobs") is not False
    if d == "llama":
        v = body.get("logprobs")
        want_lp = v is True or (isinstance(v, int) and not isinstance(v, bool) and v >= 1)
    elif d in ("ollama", "tgi"):
        want_lp = False
    choices, ctoks, per_choice = [], 0, []
    for i, p in enumerate(prompts):
        for k in range(n):
            toks, lps, text, fin = generate(seed, k, p, temperature, max_tokens, stops)
            text = with_nul(text, k, p)
            ctoks += len(toks)
            per_choice.append(len(toks))
            lp = None
            if want_lp and d == "llama":
                lp = llama_stop_cut([{"id": 0, "token": t, "logprob": l,
                                      "bytes": list(t.encode()), "top_logprobs": []}
                                     for t, l in zip(toks, lps)], fin)
                if lp is not None:
                    lp = {"content": lp}
            elif want_lp:
                offs, pos = [], 0
                for t in toks:
                    offs.append(pos)
                    pos += len(t)
                lp = {"tokens": toks, "token_logprobs": lps, "top_logprobs": None,
                      "text_offset": offs}
            choices.append({"index": i * n + k, "text": text, "logprobs": lp,
                            "finish_reason": fin})
    ptoks = sum(len(p.split()) for p in prompts)
    decode_time(per_choice)
    with STATE.lock:
        STATE.choices_served += len(choices)
    return finish_answer({"id": new_id("cmpl"), "object": "text_completion",
                          "created": int(time.time()), "model": body["model"],
                          "choices": choices,
                          "usage": {"prompt_tokens": ptoks, "completion_tokens": ctoks,
                                    "total_tokens": ptoks + ctoks}}, body, per_choice)


def chat_prompt(body):
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise BadRequest("'messages' is required and must be a non-empty list")
    parts = []
    for m in msgs:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise BadRequest("each message must be an object with a string 'role'")
        c = m.get("content")
        if c is None:
            c = ""
        if isinstance(c, list):
            c = "".join(x.get("text", "") for x in c
                        if isinstance(x, dict) and isinstance(x.get("text"), str))
        if not isinstance(c, str):
            raise BadRequest("message 'content' must be a string or a list of parts")
        parts.append(c)
    return "\n".join(parts)


def do_chat(body, ignore_n):
    n, max_tokens, temperature, seed, stops = common_params(body)
    prompt = chat_prompt(body)
    n = dialect_n(n, ignore_n)
    if n * max_tokens > MAX_WORK:
        raise BadRequest("fake: n * max_tokens too large")
    d = DIALECT["name"]
    want_lp = body.get("logprobs") is True
    ntop = 0
    if want_lp:
        ntop = as_int(body, "top_logprobs", 20 if d == "llama" else 0, 0)
        if ntop > 20:
            raise BadRequest("'top_logprobs' must be <= 20")
        if d == "llama" and ntop == 0:
            want_lp = False
    pace(n)
    choices, ctoks, per_choice = [], 0, []
    for k in range(n):
        toks, lps, text, fin = generate(seed, k, prompt, temperature, max_tokens, stops)
        text = with_nul(text, k, prompt)
        ctoks += len(toks)
        per_choice.append(len(toks))
        lp = None
        if want_lp:
            content = []
            for t, l in zip(toks, lps):
                top = []
                if ntop:
                    top.append({"token": t, "logprob": l, "bytes": list(t.encode())})
                    others = (" " + w for w in VOCAB if " " + w != t)
                    for j in range(1, ntop):
                        o = next(others)
                        top.append({"token": o, "logprob": round(l - 0.5 * j, 6),
                                    "bytes": list(o.encode())})
                content.append({"token": t, "logprob": l, "bytes": list(t.encode()),
                                "top_logprobs": top})
            lp = {"content": content}
        choice = {"index": k, "message": {"role": "assistant", "content": text},
                  "logprobs": lp, "finish_reason": fin}
        if d == "llama" and lp is not None:
            cut = llama_stop_cut(lp["content"], fin)
            if cut is None:
                del choice["logprobs"]
            else:
                lp["content"] = cut
        elif d == "llama":
            del choice["logprobs"]
        choices.append(choice)
    ptoks = len(prompt.split())
    decode_time(per_choice)
    with STATE.lock:
        STATE.choices_served += len(choices)
    return finish_answer({"id": new_id("chatcmpl"), "object": "chat.completion",
                          "created": int(time.time()), "model": body["model"],
                          "choices": choices,
                          "usage": {"prompt_tokens": ptoks, "completion_tokens": ctoks,
                                    "total_tokens": ptoks + ctoks}}, body, per_choice)


def str_list(v, name, allow_str=True):
    if allow_str and isinstance(v, str):
        return [v]
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return v
    raise BadRequest(f"'{name}' must be a string or a list of strings")


def do_get_reward(body):
    q = str_list(body.get("query"), "query", allow_str=False)
    with STATE.lock:
        STATE.texts_scored += len(q)
    return {"rewards": [score_text(t) for t in q]}


def do_score(body):
    t1 = str_list(body.get("text_1"), "text_1")
    t2 = str_list(body.get("text_2"), "text_2")
    if len(t1) == 1:
        t1 = t1 * len(t2)
    if len(t1) != len(t2):
        raise BadRequest("'text_1' and 'text_2' lists must have the same length")
    with STATE.lock:
        STATE.texts_scored += len(t2)
    return {"id": new_id("score"), "object": "list", "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "data": [{"index": i, "object": "score", "score": score_text(a + b)}
                     for i, (a, b) in enumerate(zip(t1, t2))],
            "usage": {"prompt_tokens": 0, "total_tokens": 0}}


def do_classify(body):
    inp = str_list(body.get("input"), "input")
    data = []
    for i, t in enumerate(inp):
        p = 1.0 / (1.0 + math.exp(-score_text(t)))
        data.append({"index": i, "label": "LABEL_1" if p >= 0.5 else "LABEL_0",
                     "probs": [1.0 - p, p], "num_classes": 2})
    with STATE.lock:
        STATE.texts_scored += len(inp)
    return {"id": new_id("classify"), "object": "list", "created": int(time.time()),
            "model": body.get("model", "fake-model"), "data": data,
            "usage": {"prompt_tokens": 0, "total_tokens": 0}}


def texts_in(path, body):
    """The texts of a parsed body in which a prompt-armed fault is looked for."""
    if not isinstance(body, dict):
        return []
    out = []
    if path == "/v1/completions":
        p = body.get("prompt")
        out = [p] if isinstance(p, str) else (p if isinstance(p, list) else [])
    elif path == "/v1/chat/completions":
        for m in body.get("messages") or []:
            if isinstance(m, dict):
                c = m.get("content")
                if isinstance(c, str):
                    out.append(c)
                elif isinstance(c, list):
                    out += [x.get("text") for x in c if isinstance(x, dict)]
    elif path in ("/get_reward", "/score", "/classify"):
        for f in ("query", "text_1", "text_2", "input"):
            v = body.get(f)
            out += [v] if isinstance(v, str) else (v if isinstance(v, list) else [])
    return [t for t in out if isinstance(t, str)]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-openai/1.0"
    sys_version = ""
    wbufsize = -1   # buffered: headers + body leave in one send
    timeout = 120   # idle keep-alive connections are closed after this

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        try:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def handle_expect_100(self):
        ok = super().handle_expect_100()
        self.wfile.flush()
        return ok

    def log_message(self, fmt, *args):  # never to stderr (and never headers)
        if LOG["verbose"]:
            # one write(2) a line, so that concurrent writers interleave whole lines
            os.write(2, ("fake_openai: " + (fmt % args) + "\n").encode())

    # -- responses --------------------------------------------------------------
    def _send(self, status, obj=None, raw=None, headers=(), ctype="application/json"):
        body = raw if raw is not None else json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self._status = status

    def _error(self, status, message, etype="invalid_request_error", headers=()):
        self._send(status, {"error": {"message": message, "type": etype,
                                      "param": None, "code": status}},
                   headers=headers)

    # -- request plumbing -------------------------------------------------------
    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise BadRequest("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self.close_connection = True
            raise BadRequest("body too large")
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method):
        self._status = 0
        self._entry = None
        path = self.path.split("?", 1)[0]
        fault = None
        body = None
        try:
            try:
                raw = self._read_body()
            except (ValueError, BadRequest) as e:
                self.close_connection = True
                raw = None
                self._error(400, f"bad request body: {e}")
                return
            body = None
            if raw:
                try:
                    body = json.loads(raw)
                except (ValueError, UnicodeDecodeError):
                    body = None
            if path.startswith("/_control/"):
                self._control(method, path, body, raw)
                return
            with STATE.lock:
                STATE.auth_seen = "Authorization" in self.headers
            try:
                fault, delay = self._pick_fault(method, path, body, raw)
            except BadRequest as e:
                self._arrived(method, path, None, body)
                self._error(400, str(e))
                return
            self._arrived(method, path, fault, body)
            if fault and fault != "slow":
                self._serve_fault(fault, method, path, body)
                return
            if fault == "slow":
                time.sleep(delay)
            self._route(method, path, body, raw)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        finally:
            if not path.startswith("/_control/"):
                if self._entry is None:
                    self._arrived(method, path, fault, body)
                self._record(method, path, fault)

    def _arrived(self, method, path, fault, body):
        """Counts the request when it arrives (a slow request is counted at once)."""
        with STATE.lock:
            STATE.requests += 1
            STATE.by_path[path] = STATE.by_path.get(path, 0) + 1
            if fault:
                STATE.faults_served[fault] = STATE.faults_served.get(fault, 0) + 1
            self._entry = {"method": method, "path": path, "status": None,
                           "fault": fault, "body": body}
            self._generation = STATE.generation
            STATE.history.append(self._entry)
            if len(STATE.history) > 256:
                del STATE.history[0]

    def _record(self, method, path, fault):
        """Completes the record when the answer is out (status 0: reset)."""
        status = self._status
        with STATE.lock:
            self._entry["status"] = status
            if self._generation == STATE.generation:  # not from before a reset
                s = "%03d" % status
                STATE.by_status[s] = STATE.by_status.get(s, 0) + 1
        if LOG["file"] is not None:
            line = "%.3f %s %s %03d %s\n" % (time.time(), method, path, status,
                                             fault or "-")
            with LOG["lock"]:
                if LOG["file"] is not None:
                    LOG["file"].write(line)
                    LOG["file"].flush()

    def _pick_fault(self, method, path, body, raw):
        hdr_delay = self.headers.get("X-Fault-Delay")
        try:
            delay = float(hdr_delay) if hdr_delay else DEFAULT_SLOW
        except ValueError:
            raise BadRequest("X-Fault-Delay must be a number of seconds")
        # 1. prompt-armed, permanent
        for t in texts_in(path, body):
            m = PROMPT_FAULT_RE.search(t)
            if m:
                return m.group(1), float(m.group(2)) if m.group(2) else delay
        # 2. header
        hv = self.headers.get("X-Fault")
        if hv:
            kind, count = parse_fault_spec(hv)
            if count is None:
                return kind, delay
            key = self.headers.get("X-Fault-Key")
            if key is None:
                key = hashlib.sha256(method.encode() + b" " + path.encode() + b"\n"
                                     + (raw or b"")).hexdigest()
            with STATE.lock:
                served = STATE.header_counts.get((hv, key), 0)
                if served < count:
                    STATE.header_counts[(hv, key)] = served + 1
                    return kind, delay
            return None, delay
        # 3. globally armed
        with STATE.lock:
            for a in STATE.armed:
                if a["path"] is not None:
                    if a["path"] != path:
                        continue
                elif not (method == "POST" and path in WORK_PATHS):
                    continue
                if a["count"] > 0:
                    a["count"] -= 1
                STATE.armed = [x for x in STATE.armed if x["count"] != 0]
                return a["kind"], a["delay"] if a["delay"] is not None else delay
        return None, delay

    def _serve_fault(self, kind, method, path, body):
        if kind in ("429", "429ms"):
            hdrs = [("Retry-After", "1")] if kind == "429" else [("retry-after-ms", "200")]
            self._error(429, f"fake: rate limited ({kind})", "rate_limit_error", hdrs)
        elif kind in ("500", "503"):
            self._error(int(kind), f"fake: server error injected ({kind})",
                        "server_error")
        elif kind == "400":
            self._error(400, "fake: bad request injected")
        elif kind == "malformed":
            self._send(200, raw=b"{not json")
        elif kind == "truncated":
            full = json.dumps({"id": "truncated", "object": "text_completion",
                               "choices": [{"index": 0, "text": " the good cat " * 8,
                                            "finish_reason": "length"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(full)))
            self.end_headers()
            self.wfile.write(full[:len(full) // 2])
            self.wfile.flush()
            self.close_connection = True
            self._status = 200
        elif kind == "reset":
            self._status = 0
            self.close_connection = True
            try:
                self.wfile.close()
            except OSError:
                pass
            try:
                self.rfile.close()
            except OSError:
                pass
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.connection.close()
            # the socket is gone: later flush/close in the base class hit dummies
            self.wfile = io.BytesIO()
            self.rfile = io.BytesIO()

    def _route(self, method, path, body, raw):
        get_routes = {"/health": None, "/v1/models": None}
        if DIALECT["name"] == "llama":
            get_routes["/props"] = None
        post_routes = {
            "/v1/completions": lambda b: do_completions(b, self.server.ignore_n),
            "/v1/chat/completions": lambda b: do_chat(b, self.server.ignore_n),
            "/get_reward": do_get_reward,
            "/score": do_score,
            "/classify": do_classify,
        }
        if path in get_routes:
            if method != "GET":
                self._error(405, f"method {method} not allowed on {path}")
            elif path == "/health":
                self._send(200, {"status": "ok"})
            elif path == "/props":
                self._send(200, {"total_slots": DIALECT["slots"], "model_path": "tiny.gguf",
                                 "build_info": "b1-fake",
                                 "default_generation_settings": {"n_ctx": 2048}})
            else:
                self._send(200, {"object": "list", "data": [
                    {"id": "fake-model", "object": "model", "created": 0,
                     "owned_by": "fake"}]})
            return
        if path not in post_routes:
            self._error(404, f"no such endpoint: {path}", "not_found_error")
            return
        if method != "POST":
            self._error(405, f"method {method} not allowed on {path}")
            return
        if not isinstance(body, dict):
            self._error(400, "request body must be a JSON object")
            return
        try:
            out = post_routes[path](body)
        except BadRequest as e:
            self._error(400, str(e))
            return
        self._send(200, out)

    def _control(self, method, path, body, raw):
        if path == "/_control/stats" and method == "GET":
            with STATE.lock:
                out = {"requests": STATE.requests, "by_path": dict(STATE.by_path),
                       "by_status": dict(STATE.by_status),
                       "faults_served": dict(STATE.faults_served),
                       "choices_served": STATE.choices_served,
                       "texts_scored": STATE.texts_scored,
                       "auth_seen": STATE.auth_seen,
                       "armed": [dict(a) for a in STATE.armed]}
            self._send(200, out)
        elif path == "/_control/requests" and method == "GET":
            with STATE.lock:
                out = {"requests": list(STATE.history)}
            self._send(200, out)
        elif path == "/_control/reset" and method == "POST":
            with STATE.lock:
                STATE.reset()
            self._send(200, {"status": "reset"})
        elif path == "/_control/fault" and method == "POST":
            if not isinstance(body, dict):
                self._error(400, "body must be a JSON object")
                return
            kind = str(body.get("kind"))
            count = body.get("count", 1)
            p = body.get("path")
            d = body.get("delay")
            if kind not in FAULT_KINDS:
                self._error(400, f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")
                return
            if isinstance(count, bool) or not isinstance(count, int) or count < -1:
                self._error(400, "'count' must be an integer >= -1")
                return
            if p is not None and not isinstance(p, str):
                self._error(400, "'path' must be a string")
                return
            if d is not None and (isinstance(d, bool) or not isinstance(d, (int, float))
                                  or d < 0):
                self._error(400, "'delay' must be a number >= 0")
                return
            with STATE.lock:
                if count != 0:
                    STATE.armed.append({"kind": kind, "count": count, "path": p,
                                        "delay": d})
                out = {"armed": [dict(a) for a in STATE.armed]}
            self._send(200, out)
        else:
            self._error(404, f"no such control endpoint: {method} {path}",
                        "not_found_error")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True

    def server_bind(self):
        # skip HTTPServer's getfqdn() (a resolver call); address is loopback only
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        if LOG["verbose"]:
            super().handle_error(request, client_address)


def main(argv=None):
    ap = argparse.ArgumentParser(description="fake OpenAI-compatible server (tests)")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ignore-n", action="store_true")
    ap.add_argument("--dialect", choices=DIALECTS, default="default")
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--change-after", type=int)
    ap.add_argument("--seconds-limit", type=float, default=3600.0)
    ap.add_argument("--log")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--cpu-per-sample", type=float, metavar="SECONDS")
    ap.add_argument("--rate", type=float, metavar="SAMPLES_PER_SECOND")
    ap.add_argument("--seconds-per-token", type=float, metavar="SECONDS")
    args = ap.parse_args(argv)
    if args.seconds_per_token is not None and not 0 < args.seconds_per_token <= 10:
        ap.error("--seconds-per-token must be > 0 and <= 10 seconds")
    if args.cpu_per_sample is not None and not 0 < args.cpu_per_sample <= 60:
        ap.error("--cpu-per-sample must be > 0 and <= 60 seconds")
    if args.rate is not None and not 0 < args.rate <= 1e6:
        ap.error("--rate must be > 0 and <= 1e6 samples per second")
    PACE.update(rate=args.rate, cpu=args.cpu_per_sample, per_token=args.seconds_per_token)
    LOG["verbose"] = args.verbose
    DIALECT.update(name=args.dialect, slots=args.slots, change_after=args.change_after)
    if args.log:
        LOG["file"] = open(args.log, "a", encoding="utf-8")

    server = Server(("127.0.0.1", args.port), Handler)
    server.ignore_n = args.ignore_n
    port = server.server_address[1]

    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True)
    t.start()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, args.port_file)

    deadline = time.monotonic() + args.seconds_limit
    while not stop["flag"]:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(0.1, left))

    server.shutdown()
    server.server_close()
    try:
        with open(args.port_file) as f:
            if f.read().strip() == str(port):
                os.unlink(args.port_file)
    except OSError:
        pass
    if LOG["file"] is not None:
        with LOG["lock"]:
            LOG["file"].close()
            LOG["file"] = None
    return 0


if __name__ == "__main__":
    sys.exit(main())
