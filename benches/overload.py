"""Helpers of benches/overload.sh: a counting upstream and a latency probe.

  overload.py upstream PORT DELAY_MS COUNT_FILE   answers NOERROR after DELAY_MS
                                                  (never, if DELAY_MS < 0), counts queries
  overload.py probe PORT NAME QPS SECONDS         asks NAME at QPS, prints
                                                  "sent lost p50_ms p99_ms max_ms"
"""
import socket
import struct
import sys
import threading
import time


def query(name, qid):
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.strip(".").split("."):
        packet += bytes([len(label)]) + label.encode()
    return packet + b"\x00\x00\x01\x00\x01"


def upstream(port, delay_ms, count_file):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    count = 0
    last_write = 0.0
    while True:
        data, peer = sock.recvfrom(4096)
        count += 1
        now = time.time()
        if now - last_write > 0.2:
            with open(count_file, "w") as f:
                f.write(str(count))
            last_write = now
        if delay_ms < 0 or len(data) < 12:
            continue
        reply = bytearray(data)
        reply[2] |= 0x80
        reply[3] = 0x80
        if delay_ms == 0:
            sock.sendto(bytes(reply), peer)
        else:
            threading.Timer(delay_ms / 1000.0, sock.sendto, (bytes(reply), peer)).start()


def probe(port, name, qps, seconds):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1.0)
    latencies = []
    lost = 0
    sent = 0
    interval = 1.0 / qps
    start = time.time()
    qid = 0
    while time.time() - start < seconds:
        qid = (qid + 1) & 0xFFFF
        t0 = time.perf_counter()
        sock.sendto(query(name, qid), ("127.0.0.1", port))
        sent += 1
        while True:
            try:
                data, _ = sock.recvfrom(4096)
            except socket.timeout:
                lost += 1
                break
            if data[:2] == struct.pack(">H", qid):
                latencies.append((time.perf_counter() - t0) * 1000.0)
                break
        spare = interval - (time.perf_counter() - t0)
        if spare > 0:
            time.sleep(spare)
    latencies.sort()
    if not latencies:
        print(sent, lost, "-", "-", "-")
        return

    def pct(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))]

    print(sent, lost, "%.2f" % pct(0.5), "%.2f" % pct(0.99), "%.2f" % latencies[-1])


if __name__ == "__main__":
    if sys.argv[1] == "upstream":
        upstream(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        probe(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
