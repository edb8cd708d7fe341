#!/usr/bin/env python3
"""Runs ../shared/peers/syncmanager_rtt.py with its processes pinned, for benches/rtt.rs.

Usage: python3 pinned_syncmanager.py PEER_SCRIPT SERVER_CPU CLIENT_CPU [peer args...]

The manager's server process (every thread of it) and this process go to SERVER_CPU; each
client process pins itself to CLIENT_CPU before its first call. The peer script is imported
unchanged; only its `client` function and `Manager` class are wrapped.
"""
import importlib.util
import os
import sys

path, server_cpu, client_cpu, *args = sys.argv[1:]
server_cpu, client_cpu = int(server_cpu), int(client_cpu)
spec = importlib.util.spec_from_file_location("peer", path)
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)

unpinned_client = peer.client


def client(*a):
    os.sched_setaffinity(0, {client_cpu})
    return unpinned_client(*a)


class PinnedManager(peer.Manager):
    def start(self, *a, **k):
        started = super().start(*a, **k)
        pid = self._process.pid
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(tid), {server_cpu})
        return started


os.sched_setaffinity(0, {server_cpu})
peer.client = client
peer.Manager = PinnedManager
sys.argv = [path] + args
peer.main()
