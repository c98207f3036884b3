#!/usr/bin/env python3
"""A durable eventbus consumer in Python's standard library alone: it pulls a consumer's messages over plain
HTTP (POST /api/consumers/<id>/fetch, long-polled), applies each to a SQLite table once, and acks them in one
request. Killed at any moment, it loses nothing and applies nothing twice: what it did not ack comes back
(docs/http-api.md, "Pull"), and a message applied before the kill is recognised by its seq.

    EVENTBUS_URL=http://127.0.0.1:3000 python3 examples/pull_consumer.py orders-db 'orders.*' orders.db

Arguments: the consumer (registered if it is not), its pattern, the SQLite file. EVENTBUS_TOKEN is sent when set.
"""
import json
import os
import signal
import sqlite3
import sys
import time
import urllib.error
import urllib.request

URL = os.environ.get("EVENTBUS_URL", "http://127.0.0.1:3000").rstrip("/")
TOKEN = os.environ.get("EVENTBUS_TOKEN")
# A fetch waits up to this long for a first message (the broker's cap is 30 s); then the loop asks again.
WAIT_MS = 20_000
BATCH = 100


def call(method, path, body=None):
    """One request to the broker; the answer's JSON. A refusal raises RuntimeError with the broker's code."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(URL + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    if TOKEN:
        request.add_header("authorization", "Bearer " + TOKEN)
    try:
        with urllib.request.urlopen(request, timeout=WAIT_MS / 1000 + 10) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        answer = json.load(e)
        raise RuntimeError(f"{answer['code']} {answer['message']}") from None


def main():
    consumer, pattern, db_file = sys.argv[1:4]
    db = sqlite3.connect(db_file)
    db.execute("CREATE TABLE IF NOT EXISTS orders (seq INTEGER PRIMARY KEY, topic TEXT, payload TEXT)")
    call("PUT", f"/api/consumers/{consumer}", {"patterns": [pattern]})
    print(f"consuming {consumer} ({pattern}) from {URL}", flush=True)
    while True:
        try:
            messages = call("POST", f"/api/consumers/{consumer}/fetch", {"max": BATCH, "wait_ms": WAIT_MS})["messages"]
        except (OSError, RuntimeError) as e:
            # The broker restarting, or out of reach: what was fetched and not acked comes back later.
            print(f"fetch failed ({e}); trying again", file=sys.stderr, flush=True)
            time.sleep(1)
            continue
        if not messages:
            continue
        # The work and the record that it was done, in one transaction: a message applied before a kill and
        # delivered again is recognised by its seq.
        with db:
            for m in messages:
                db.execute("INSERT OR IGNORE INTO orders (seq, topic, payload) VALUES (?, ?, ?)", (m["seq"], m["topic"], m["payload"]))
        for m in messages:
            print(f"applied {m['seq']} {m['topic']} {m['payload']} (delivery {m['delivery']})", flush=True)
        try:
            call("POST", f"/api/consumers/{consumer}/ack", {"seqs": [m["seq"] for m in messages]})
        except (OSError, RuntimeError) as e:
            # Not acked: they come back after the ack timeout, and are recognised then.
            print(f"ack failed ({e})", file=sys.stderr, flush=True)


if __name__ == "__main__":
    # Stopped at any point: a fetch cut short gives its messages back at once, and what was applied and not acked
    # comes back after the ack timeout, to be recognised.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    try:
        main()
    except KeyboardInterrupt:
        pass
    finally:
        print("stopped", flush=True)
