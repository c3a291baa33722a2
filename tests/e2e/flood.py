#!/usr/bin/env python3
"""Slow, unauthenticated connections against an HTTPS server, as an attacker would open them.

Usage: flood.py PORT SECONDS STATS_FILE

For SECONDS, from the loopback addresses 127.0.0.2 to 127.0.0.6 (other "hosts" than the
authenticated clients on 127.0.0.1), it keeps 500 connections open, reopening any the server
closes:
  - 250 finish the TLS handshake, send the start of a request head and then trickle one more
    header byte per second, never ending the head;
  - 250 send the first bytes of a TLS handshake and then trickle one byte per second, never
    finishing it.
From 127.0.0.7 it opens 200 trickling connections once (more than the server allows one client
while unauthenticated) and does not reopen them.

Prints "flooding" once every connection is open and past its TLS handshake, or after 10 s when a
server cannot finish them (to stdout, flushed), and at the end writes JSON
statistics to STATS_FILE: how many connections were open at the end, how many the server closed,
and how long the connections it closed had lived.
"""
import json
import selectors
import socket
import ssl
import sys
import time

HOSTS = [f"127.0.0.{i}" for i in range(2, 7)]
PER_KIND = 250
OVER_LIMIT_HOST = "127.0.0.7"
OVER_LIMIT = 200
HEAD_START = b"GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: migdra\r\nX-Slow: "
# A TLS handshake record header announcing a 512-byte ClientHello, then a few of its bytes.
HANDSHAKE_START = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"


class Flood:
    def __init__(self, port, deadline):
        self.port = port
        self.deadline = deadline
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE
        self.selector = selectors.DefaultSelector()
        # socket -> [kind, host, opened_at, reopen, handshaking]
        self.open = {}
        self.closed_by_server = {"trickle-head": [], "trickle-handshake": [], "over-limit": []}
        self.connect_failures = 0

    def connect(self, kind, host, reopen):
        if time.monotonic() >= self.deadline:
            return
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            raw.bind((host, 0))
            raw.settimeout(1.0)
            raw.connect(("127.0.0.1", self.port))
            raw.setblocking(False)
            if kind == "trickle-handshake":
                raw.send(HANDSHAKE_START)
                sock, handshaking = raw, False
            else:
                sock = self.context.wrap_socket(raw, do_handshake_on_connect=False)
                handshaking = True
        except OSError:
            raw.close()
            self.connect_failures += 1
            return
        self.open[sock] = [kind, host, time.monotonic(), reopen, handshaking]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if handshaking else 0)
        self.selector.register(sock, events)

    def lost(self, sock):
        kind, host, opened_at, reopen, _ = self.open.pop(sock)
        self.selector.unregister(sock)
        sock.close()
        self.closed_by_server[kind].append(round(time.monotonic() - opened_at, 1))
        if reopen:
            self.connect(kind, host, reopen)

    def progress(self, sock):
        state = self.open[sock]
        try:
            if state[4]:
                sock.do_handshake()
                state[4] = False
                self.selector.modify(sock, selectors.EVENT_READ)
                sock.send(HEAD_START)
                return
            if not sock.recv(4096):
                self.lost(sock)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            pass
        except OSError:
            self.lost(sock)

    def trickle(self):
        for sock, state in list(self.open.items()):
            if state[4]:
                continue
            try:
                sock.send(b"a")
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                pass
            except OSError:
                self.lost(sock)

    def run(self):
        for i in range(PER_KIND):
            self.connect("trickle-head", HOSTS[i % len(HOSTS)], True)
            self.connect("trickle-handshake", HOSTS[i % len(HOSTS)], True)
        for _ in range(OVER_LIMIT):
            self.connect("over-limit", OVER_LIMIT_HOST, False)
        announced = False
        announce_by = time.monotonic() + 10.0
        next_tick = time.monotonic() + 1.0
        while time.monotonic() < self.deadline:
            handshaking = any(s[4] for s in self.open.values())
            if not announced and (not handshaking or time.monotonic() >= announce_by):
                print(f"flooding with {len(self.open)} connections", flush=True)
                announced = True
            timeout = max(0.0, min(next_tick, self.deadline) - time.monotonic())
            for key, _ in self.selector.select(timeout):
                if key.fileobj in self.open:
                    self.progress(key.fileobj)
            if time.monotonic() >= next_tick:
                next_tick += 1.0
                self.trickle()
        states = list(self.open.values())
        return {
            "open_at_end": {
                kind: sum(1 for s in states if s[0] == kind) for kind in self.closed_by_server
            },
            "still_in_tls_handshake_at_end": sum(1 for s in states if s[4]),
            "closed_by_server": {k: len(v) for k, v in self.closed_by_server.items()},
            "closed_within_5s": {
                k: sum(1 for t in v if t <= 5.0) for k, v in self.closed_by_server.items()
            },
            "lifetime_of_closed_s": {
                k: [min(v), max(v)] for k, v in self.closed_by_server.items() if v
            },
            "connect_failures": self.connect_failures,
        }


def main():
    port, seconds, stats_file = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    flood = Flood(port, time.monotonic() + seconds)
    stats = flood.run()
    with open(stats_file, "w") as out:
        json.dump(stats, out)


if __name__ == "__main__":
    main()
