#!/usr/bin/env python3
"""Drives an OpenAI-compatible server with N concurrent streaming clients and prints the
aggregate decode rate and the time to first token.

    python3 benches/serve_load.py --url http://127.0.0.1:8080 --clients 8 --tokens 128 --name ours

Every client sends the same kind of request, one after another for --rounds rounds: a raw
completion (`/v1/completions`, greedy, streamed) of a different story opening each, with
`max_tokens` = --tokens. Tokens are the streamed chunks that carry text (both our server and
llama-server send one chunk per token). Prints one line:

    NAME clients=N tokens=T wall=S aggregate=A tok/s per_stream=B tok/s ttft_mean=M ms ttft_max=X ms failed=F

Standard library only, so it runs wherever Python 3 does.
"""

import argparse
import http.client
import json
import threading
import time
import urllib.parse

OPENINGS = [
    "Once upon a time, in a village by the sea, there lived",
    "The old lighthouse keeper had a secret that nobody in town",
    "On the first day of winter, the children found a map",
    "Deep in the forest, a small fox was looking for",
    "The spaceship landed quietly behind the school, and",
    "My grandmother always told me a story about a dragon who",
    "In the middle of the desert stood a tower made of",
    "The robot woke up in an empty city and decided to",
]


def one_request(url, prompt, tokens, model):
    """Streams one completion; returns (first token seconds, tokens, ok)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    body = {
        "prompt": prompt,
        "max_tokens": tokens,
        "temperature": 0,
        "stream": True,
    }
    if model:
        body["model"] = model
    started = time.perf_counter()
    conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    if response.status != 200:
        response.read()
        conn.close()
        return None, 0, False
    first = None
    count = 0
    for line in response:
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        chunk = json.loads(data)
        choices = chunk.get("choices") or []
        if choices and choices[0].get("text"):
            count += 1
            if first is None:
                first = time.perf_counter() - started
    conn.close()
    return first, count, True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--model", default="")
    parser.add_argument("--name", default="server")
    args = parser.parse_args()

    results = []
    lock = threading.Lock()

    def client(index):
        for round_ in range(args.rounds):
            prompt = OPENINGS[(index + round_) % len(OPENINGS)]
            outcome = one_request(args.url, prompt, args.tokens, args.model)
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started

    ok = [r for r in results if r[2]]
    tokens = sum(r[1] for r in ok)
    firsts = [r[0] * 1000 for r in ok if r[0] is not None]
    failed = len(results) - len(ok)
    aggregate = tokens / wall if wall > 0 else 0.0
    per_stream = aggregate / args.clients
    ttft_mean = sum(firsts) / len(firsts) if firsts else float("nan")
    ttft_max = max(firsts) if firsts else float("nan")
    print(
        f"{args.name} clients={args.clients} tokens={tokens} wall={wall:.2f} "
        f"aggregate={aggregate:.1f} tok/s per_stream={per_stream:.1f} tok/s "
        f"ttft_mean={ttft_mean:.0f} ms ttft_max={ttft_max:.0f} ms failed={failed}",
        flush=True,
    )


if __name__ == "__main__":
    main()
