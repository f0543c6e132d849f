#!/usr/bin/env python3
"""Helper of benches/compare-knot-cluster.sh: one synthetic cluster, served two ways.

  cluster-zone.py generate OUTDIR [--services N] [--headless-fraction F]
                                  [--endpoints M] [--queries Q] [--seed S]
  cluster-zone.py verify SERVER_A SERVER_B VERIFYFILE     (SERVER: host:port)
  cluster-zone.py latency < dnsperf-v-output              (prints "n p50_us p99_us")

`generate` writes, from one deterministic list of objects:
  cluster.json       the objects as a JSON `kind: List` (the kubernetes plugin's
                     `manifests` reads it): Namespaces, Services, EndpointSlices;
  cluster.local.zone the same cluster as a zone file, following the Kubernetes DNS
                     specification the way plugins/kubernetes implements it (TTL 5,
                     SOA minimum 5; see plugins/kubernetes/README.md, "Records");
  queries.txt        the dnsperf workload, shuffled with a fixed seed;
  verify.txt         a sample of every query class ("CLASS NAME TYPE"), for `verify`;
  summary.txt        one line describing the cluster and the workload.

The cluster: N services in namespaces ns-0, ns-1, ... (100 each) plus kubernetes
(default) and kube-dns (kube-system). A fraction F, spread evenly, is headless; every
service has M ready endpoints in one EndpointSlice (ClusterIP services too). Every
second headless service is StatefulSet-style (endpoint hostnames svc-J-0 ... svc-J-4),
the others are named by their dashed address; every fourth headless service also has
a not-ready endpoint, which must not be served. Ports: http 80/TCP on all but a few
single unnamed-port services (8080/TCP, every 50th), metrics 9153/TCP on every third,
dns 53/UDP + dns-tcp 53/TCP on every seventh.

Workload (fractions of the queries): 50% A of ClusterIP services, 15% AAAA of
ClusterIP services (NODATA), 10% SRV _port._proto of named ports (ClusterIP and
headless), 10% A of headless services, 5% A of endpoint names of headless services,
5% NXDOMAIN from search-path expansion (ndots:5), 5% NXDOMAIN of services that do not
exist.

`verify` sends every query of VERIFYFILE to both servers over UDP (no EDNS, as dnsperf)
and compares the rcode, the AA and TC flags and the answer section (owner, type, TTL,
data, as a sorted list; the SOA serial is ignored). Authority and Additional are not
compared: Knot and clusterdns put different glue there (Knot adds in-zone addresses of
NS/SRV targets its own way). A truncated UDP answer is asked again over TCP and the TCP
answers are compared: with TC set, clusterdns keeps the records that fit and Knot sends
an empty answer section, both allowed (RFC 2181 9) and only a signal to retry over TCP;
only bare-name SRV of headless services with several ports is that large here. Prints
a table per class and every mismatch; exits 1 if there is one.
"""

import argparse
import ipaddress
import json
import math
import os
import random
import socket
import struct
import sys

ZONE = "cluster.local"
TTL = 5
PER_NAMESPACE = 100
CLUSTER_IP_BASE = int(ipaddress.IPv4Address("10.96.0.16"))
POD_IP_BASE = int(ipaddress.IPv4Address("10.244.0.0"))
EXTERNAL = ["www.example.com", "api.github.com", "storage.googleapis.com",
            "registry-1.docker.io", "example.com", "s3.amazonaws.com"]

# --------------------------------------------------------------------------- cluster


class Service:
    def __init__(self, ns, name, cluster_ip, ports, endpoints):
        self.ns = ns
        self.name = name
        self.cluster_ip = cluster_ip  # None: headless
        self.ports = ports  # [(name, port, protocol)]; name "" = unnamed
        self.endpoints = endpoints  # [(ip, hostname or None, ready)]

    @property
    def headless(self):
        return self.cluster_ip is None

    def fqdn(self):
        return f"{self.name}.{self.ns}.svc.{ZONE}."

    def ready(self):
        """Ready endpoints, first occurrence of each address."""
        seen, out = set(), []
        for ip, host, ready in self.endpoints:
            if ready and ip not in seen:
                seen.add(ip)
                out.append((ip, host))
        return out

    @staticmethod
    def label(ip, host):
        return host if host else ip.replace(".", "-")


def build(services, headless_fraction, endpoints_per_service):
    next_pod = [POD_IP_BASE]

    def pod_ip():
        while True:
            next_pod[0] += 1
            if next_pod[0] & 0xFF not in (0, 0xFF):
                return str(ipaddress.IPv4Address(next_pod[0]))

    out = [
        Service("default", "kubernetes", "10.96.0.1", [("https", 443, "TCP")],
                [("192.168.0.10", None, True)]),
        Service("kube-system", "kube-dns", "10.96.0.10",
                [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")],
                [(pod_ip(), None, True) for _ in range(2)]),
    ]
    next_cluster_ip = CLUSTER_IP_BASE
    headless_seen = 0
    for j in range(services):
        ns = f"ns-{j // PER_NAMESPACE}"
        name = f"svc-{j}"
        headless = math.floor((j + 1) * headless_fraction) > math.floor(j * headless_fraction)
        if not headless and j % 50 == 1:
            ports = [("", 8080, "TCP")]
        else:
            ports = [("http", 80, "TCP")]
            if j % 3 == 0:
                ports.append(("metrics", 9153, "TCP"))
            if j % 7 == 0:
                ports += [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")]
        eps = []
        if headless:
            statefulset = headless_seen % 2 == 0
            for k in range(endpoints_per_service):
                eps.append((pod_ip(), f"{name}-{k}" if statefulset else None, True))
            if headless_seen % 4 == 1:
                eps.append((pod_ip(), None, False))
            elif headless_seen % 4 == 0:
                eps.append((pod_ip(), f"{name}-{endpoints_per_service}", False))
            headless_seen += 1
            cluster_ip = None
        else:
            eps = [(pod_ip(), None, True) for _ in range(endpoints_per_service)]
            cluster_ip = str(ipaddress.IPv4Address(next_cluster_ip))
            next_cluster_ip += 1
        out.append(Service(ns, name, cluster_ip, ports, eps))
    return out


def manifest(services):
    def ports_json(ports, target):
        res = []
        for name, port, proto in ports:
            p = {}
            if name:
                p["name"] = name
            p["port"] = port
            p["protocol"] = proto
            if target:
                p["targetPort"] = port
            res.append(p)
        return res

    namespaces = []
    for s in services:
        if s.ns not in namespaces:
            namespaces.append(s.ns)
    items = [{
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"},
    } for ns in namespaces]
    for s in services:
        spec = {"type": "ClusterIP", "ports": ports_json(s.ports, True),
                "selector": {"app": s.name}}
        if s.headless:
            spec.update(clusterIP="None", clusterIPs=["None"])
        else:
            spec.update(clusterIP=s.cluster_ip, clusterIPs=[s.cluster_ip],
                        ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack")
        items.append({"apiVersion": "v1", "kind": "Service",
                      "metadata": {"name": s.name, "namespace": s.ns}, "spec": spec})
        endpoints = []
        for k, (ip, host, ready) in enumerate(s.endpoints):
            ep = {"addresses": [ip],
                  "conditions": {"ready": ready, "serving": ready, "terminating": False},
                  "targetRef": {"kind": "Pod", "name": f"{s.name}-{k}", "namespace": s.ns},
                  "nodeName": f"node-{k % 100}"}
            if host:
                ep["hostname"] = host
            endpoints.append(ep)
        items.append({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{s.name}-0", "namespace": s.ns, "labels": {
                "kubernetes.io/service-name": s.name,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4", "endpoints": endpoints,
            "ports": ports_json(s.ports, False),
        })
    return {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}


def srv_weight(n):
    """plugins/kubernetes answer.rs srv_weight (CoreDNS): floor(100/N), at least 1."""
    return max(1, int(math.floor(100.0 / (100.0 * max(n, 1)) * 100.0)))


def zone_records(services):
    """Yields (owner, type, rdata) of the cluster zone, as clusterdns answers it."""
    yield (f"{ZONE}.", "SOA", f"ns.dns.{ZONE}. hostmaster.{ZONE}. 1 7200 1800 86400 {TTL}")
    yield (f"{ZONE}.", "NS", f"ns.dns.{ZONE}.")
    yield (f"ns.dns.{ZONE}.", "A", "127.0.0.1")
    for s in services:
        owner = s.fqdn()
        ready = s.ready()
        named = [p for p in s.ports if p[0]]
        if not s.headless:
            yield (owner, "A", s.cluster_ip)
            # Bare SRV: one per distinct port, weight over every port.
            w = srv_weight(len(s.ports))
            for port in dict.fromkeys(p[1] for p in s.ports):
                yield (owner, "SRV", f"0 {w} {port} {owner}")
            for name, port, proto in named:
                yield (f"_{name}._{proto.lower()}.{owner}", "SRV", f"0 100 {port} {owner}")
        else:
            for ip, _ in ready:
                yield (owner, "A", ip)
            w = srv_weight(len(ready) * len(s.ports))
            for ip, host in ready:
                target = f"{Service.label(ip, host)}.{owner}"
                for port in dict.fromkeys(p[1] for p in s.ports):
                    yield (owner, "SRV", f"0 {w} {port} {target}")
            w = srv_weight(len(ready))
            for name, port, proto in named:
                for ip, host in ready:
                    target = f"{Service.label(ip, host)}.{owner}"
                    yield (f"_{name}._{proto.lower()}.{owner}", "SRV", f"0 {w} {port} {target}")
        # Endpoint names (ClusterIP services have them too, as in CoreDNS).
        for ip, host in ready:
            ep = f"{Service.label(ip, host)}.{owner}"
            yield (ep, "A", ip)
            w = srv_weight(len(s.ports))
            for port in dict.fromkeys(p[1] for p in s.ports):
                yield (ep, "SRV", f"0 {w} {port} {ep}")


def queries(services, count, rnd):
    """The workload as [(class, name, type)], in exact proportions, shuffled."""
    clusterip = [s for s in services if not s.headless]
    headless = [s for s in services if s.headless]
    srv_targets = [(s, p) for s in services for p in s.ports if p[0]]
    namespaces = sorted({s.ns for s in services if s.ns.startswith("ns-")},
                        key=lambda n: int(n[3:]))

    def svc_a():
        return rnd.choice(clusterip).fqdn(), "A"

    def svc_aaaa():
        return rnd.choice(clusterip).fqdn(), "AAAA"

    def srv():
        s, (name, _, proto) = rnd.choice(srv_targets)
        return f"_{name}._{proto.lower()}.{s.fqdn()}", "SRV"

    def headless_a():
        return rnd.choice(headless).fqdn(), "A"

    def endpoint_a():
        s = rnd.choice(headless)
        ip, host = rnd.choice(s.ready())
        return f"{Service.label(ip, host)}.{s.fqdn()}", "A"

    def nx_search():
        # What a pod in namespace `own` with ndots:5 asks before the name that works.
        own = rnd.choice(namespaces)
        s = rnd.choice(clusterip + headless)
        kind = rnd.randrange(6)
        if kind == 0:  # "svc.ns" tried with the first search domain
            return f"{s.name}.{s.ns}.{own}.svc.{ZONE}.", "A"
        if kind == 1:  # a full cluster name without the trailing dot
            return f"{s.name}.{s.ns}.svc.{ZONE}.{own}.svc.{ZONE}.", "A"
        if kind == 2:
            return f"{s.name}.{s.ns}.svc.{ZONE}.svc.{ZONE}.", "A"
        ext = rnd.choice(EXTERNAL)
        suffix = [f"{own}.svc.{ZONE}", f"svc.{ZONE}", ZONE][kind - 3]
        return f"{ext}.{suffix}.", rnd.choice(["A", "A", "AAAA"])

    def nx_service():
        ns = rnd.choice(namespaces)
        if rnd.randrange(2):
            return f"missing-{rnd.randrange(100000)}.{ns}.svc.{ZONE}.", "A"
        # An existing service name in the wrong namespace.
        s = rnd.choice(clusterip + headless)
        while s.ns == ns:
            s = rnd.choice(clusterip + headless)
        return f"{s.name}.{ns}.svc.{ZONE}.", "A"

    mix = [("svc-a", 50, svc_a), ("svc-aaaa", 15, svc_aaaa), ("srv", 10, srv),
           ("headless-a", 10, headless_a), ("endpoint-a", 5, endpoint_a),
           ("nx-search", 5, nx_search), ("nx-service", 5, nx_service)]
    out = []
    for cls, percent, make in mix:
        out += [(cls, *make()) for _ in range(count * percent // 100)]
    rnd.shuffle(out)
    return out, {cls: make for cls, _, make in mix}


def extra_checks(services, rnd, n):
    """Verification-only classes: names the workload does not ask but both must agree on."""
    clusterip = [s for s in services if not s.headless]
    out = []
    for _ in range(n):
        s = rnd.choice(services)
        out.append(("bare-srv", s.fqdn(), "SRV"))
    for _ in range(n):
        s = rnd.choice(clusterip)
        ip, host = rnd.choice(s.ready())
        out.append(("clusterip-ep", f"{Service.label(ip, host)}.{s.fqdn()}",
                    rnd.choice(["A", "SRV", "AAAA"])))
    for s in services:
        if not s.headless:
            continue
        for ip, host, ready in s.endpoints:
            if not ready:  # not-ready endpoints: NXDOMAIN by name, absent from the A set
                out.append(("not-ready", f"{Service.label(ip, host)}.{s.fqdn()}", "A"))
        if len([o for o in out if o[0] == "not-ready"]) >= 20:
            break
    out += [("misc", f"{ZONE}.", "SOA"), ("misc", f"{ZONE}.", "NS"),
            ("misc", f"{ZONE}.", "A"), ("misc", f"ns.dns.{ZONE}.", "A"),
            ("misc", f"svc.{ZONE}.", "A"), ("misc", "ns-0.svc.cluster.local.", "A"),
            ("misc", "kube-system.svc.cluster.local.", "SRV"),
            ("misc", "nosuchns.svc.cluster.local.", "A"),
            ("misc", "kube-dns.kube-system.svc.cluster.local.", "A"),
            ("misc", "kube-dns.kube-system.svc.cluster.local.", "SRV"),
            ("misc", "_dns._udp.kube-dns.kube-system.svc.cluster.local.", "SRV"),
            ("misc", "_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local.", "SRV"),
            ("misc", "_https._tcp.kubernetes.default.svc.cluster.local.", "SRV"),
            ("misc", "kubernetes.default.svc.cluster.local.", "A"),
            ("misc", "kubernetes.default.svc.cluster.local.", "MX"),
            ("misc", "_http._udp.svc-0.ns-0.svc.cluster.local.", "SRV"),
            ("misc", "_http._tcp.svc-1.ns-0.svc.cluster.local.", "SRV"),
            ("misc", "svc-9.ns-0.svc.cluster.local.", "TXT")]
    return out


def generate(args):
    os.makedirs(args.outdir, exist_ok=True)
    services = build(args.services, args.headless_fraction, args.endpoints)
    with open(os.path.join(args.outdir, "cluster.json"), "w") as f:
        json.dump(manifest(services), f, separators=(",", ":"))
    records = 0
    with open(os.path.join(args.outdir, f"{ZONE}.zone"), "w") as f:
        f.write(f"$ORIGIN {ZONE}.\n$TTL {TTL}\n")
        for owner, rtype, rdata in zone_records(services):
            f.write(f"{owner} {rtype} {rdata}\n")
            records += 1
    rnd = random.Random(args.seed)
    workload, makers = queries(services, args.queries, rnd)
    with open(os.path.join(args.outdir, "queries.txt"), "w") as f:
        for _, name, rtype in workload:
            f.write(f"{name} {rtype}\n")
    vrnd = random.Random(args.seed + 1)
    sample = [(cls, *make()) for cls, make in makers.items() for _ in range(args.verify)]
    sample += extra_checks(services, vrnd, args.verify)
    with open(os.path.join(args.outdir, "verify.txt"), "w") as f:
        for cls, name, rtype in sample:
            f.write(f"{cls} {name} {rtype}\n")
    headless = [s for s in services if s.headless]
    endpoints = sum(len(s.ready()) for s in services)
    summary = (f"cluster: {len(services)} services ({len(headless)} headless, "
               f"{sum(1 for s in headless if s.endpoints[0][1])} with hostnames), "
               f"{len({s.ns for s in services})} namespaces, {endpoints} ready endpoints; "
               f"zone: {records} records; workload: {len(workload)} queries "
               f"(50% svc A, 15% AAAA, 10% SRV, 10% headless A, 5% endpoint A, "
               f"5% NX search-path, 5% NX service), seed {args.seed}")
    with open(os.path.join(args.outdir, "summary.txt"), "w") as f:
        f.write(summary + "\n")
    print(summary)


# ---------------------------------------------------------------------------- verify

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def read_name(msg, off):
    labels, jumped, end = [], False, None
    for _ in range(128):
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumped = True
            continue
        off += 1
        if n == 0:
            break
        labels.append(msg[off:off + n].decode("ascii", "replace").lower())
        off += n
    return ".".join(labels) + ".", (end if jumped else off)


def rdata_text(msg, rtype, off, length):
    data = msg[off:off + length]
    if rtype == 1:
        return str(ipaddress.IPv4Address(data))
    if rtype == 28:
        return str(ipaddress.IPv6Address(data))
    if rtype in (2, 5):
        return read_name(msg, off)[0]
    if rtype == 33:
        prio, weight, port = struct.unpack("!HHH", data[:6])
        return f"{prio} {weight} {port} {read_name(msg, off + 6)[0]}"
    if rtype == 6:
        mname, o = read_name(msg, off)
        rname, o = read_name(msg, o)
        _serial, *rest = struct.unpack("!IIIII", msg[o:o + 20])
        return f"{mname} {rname} SERIAL " + " ".join(map(str, rest))
    if rtype == 16:
        parts, i = [], 0
        while i < len(data):
            parts.append(data[i + 1:i + 1 + data[i]].decode("ascii", "replace"))
            i += 1 + data[i]
        return " ".join(f'"{p}"' for p in parts)
    return data.hex()


def parse(msg):
    _id, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", msg[:12])
    off = 12
    for _ in range(qd):
        _, off = read_name(msg, off)
        off += 4
    answers = []
    for _ in range(an):
        name, off = read_name(msg, off)
        rtype, _rclass, ttl, length = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        answers.append((name, TYPE_NAMES.get(rtype, str(rtype)), ttl,
                        rdata_text(msg, rtype, off, length)))
        off += length
    return {"rcode": RCODES.get(flags & 0xF, str(flags & 0xF)), "aa": bool(flags & 0x0400),
            "tc": bool(flags & 0x0200), "answers": sorted(answers)}


def query(qid, name, rtype):
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + \
        struct.pack("!HH", TYPES[rtype], 1)


def ask_tcp(server, qid, name, rtype):
    q = query(qid, name, rtype)
    with socket.create_connection(server, timeout=2.0) as c:
        c.sendall(struct.pack("!H", len(q)) + q)
        data = b""
        while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
            chunk = c.recv(65535)
            if not chunk:
                break
            data += chunk
    r = parse(data[2:])
    r["tcp"] = True
    return r


def ask(sock, server, qid, name, rtype):
    """UDP without EDNS (as dnsperf sends); a truncated answer is asked again over TCP."""
    q = query(qid, name, rtype)
    for _ in range(3):
        sock.sendto(q, server)
        try:
            while True:
                data, _ = sock.recvfrom(65535)
                if len(data) >= 12 and struct.unpack("!H", data[:2])[0] == qid:
                    r = parse(data)
                    return ask_tcp(server, qid, name, rtype) if r["tc"] else r
        except socket.timeout:
            continue
    return {"rcode": "TIMEOUT", "aa": False, "tc": False, "answers": []}


def show(r):
    head = f"{r['rcode']}{' aa' if r['aa'] else ''}{' tc' if r['tc'] else ''}" + \
        (" (over TCP after TC)" if r.get("tcp") else "")
    return "\n".join([head] + [f"      {n} {t} {ttl} {d}" for n, t, ttl, d in r["answers"]])


def verify(args):
    def addr(s):
        host, port = s.rsplit(":", 1)
        return host, int(port)

    a, b = addr(args.server_a), addr(args.server_b)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1.0)
    stats, bad, qid = {}, 0, 0
    with open(args.file) as f:
        lines = [line.split() for line in f if line.strip()]
    for cls, name, rtype in lines:
        qid = (qid + 1) & 0xFFFF
        ra = ask(sock, a, qid, name, rtype)
        qid = (qid + 1) & 0xFFFF
        rb = ask(sock, b, qid, name, rtype)
        st = stats.setdefault(cls, {"n": 0, "bad": 0, "rcodes": {}, "answers": 0, "tcp": 0})
        st["n"] += 1
        st["tcp"] += bool(ra.get("tcp"))
        st["rcodes"][ra["rcode"]] = st["rcodes"].get(ra["rcode"], 0) + 1
        st["answers"] += len(ra["answers"])
        if ra != rb or ra["rcode"] == "TIMEOUT":
            st["bad"] += 1
            bad += 1
            if bad <= args.show:
                print(f"MISMATCH {cls} {name} {rtype}\n  {args.label_a}: {show(ra)}\n"
                      f"  {args.label_b}: {show(rb)}")
    print(f"{'class':<13} {'queries':>7} {'mismatch':>8} {'answer RRs':>10} {'TC->TCP':>7}"
          f"  rcodes ({args.label_a})")
    for cls, st in stats.items():
        rc = ", ".join(f"{k} {v}" for k, v in sorted(st["rcodes"].items()))
        print(f"{cls:<13} {st['n']:>7} {st['bad']:>8} {st['answers']:>10} {st['tcp']:>7}  {rc}")
    total = sum(st["n"] for st in stats.values())
    print(f"answer check: {total} queries, {bad} mismatches "
          "(compared: rcode, AA, TC, sorted answer section with TTLs; not compared: "
          "SOA serial, authority and additional sections; truncated UDP answers, whose "
          "answer sections differ by design, are compared over TCP)")
    return 1 if bad else 0


# --------------------------------------------------------------------------- latency


def latency(_args):
    """p50/p99 in microseconds from `dnsperf -v` lines "> RCODE NAME TYPE SECONDS"."""
    values = []
    for line in sys.stdin:
        if line.startswith("> "):
            parts = line.split()
            try:
                values.append(float(parts[-1]))
            except ValueError:
                pass
    if not values:
        print("0 0 0")
        return 0
    values.sort()

    def pct(p):
        return values[min(len(values) - 1, int(math.ceil(p / 100.0 * len(values))) - 1)] * 1e6

    print(f"{len(values)} {pct(50):.0f} {pct(99):.0f}")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("outdir")
    g.add_argument("--services", type=int, default=10000)
    g.add_argument("--headless-fraction", type=float, default=0.1)
    g.add_argument("--endpoints", type=int, default=5)
    g.add_argument("--queries", type=int, default=100000)
    g.add_argument("--verify", type=int, default=300, help="sample per query class")
    g.add_argument("--seed", type=int, default=20250101)
    v = sub.add_parser("verify")
    v.add_argument("server_a")
    v.add_argument("server_b")
    v.add_argument("file")
    v.add_argument("--label-a", default="clusterdns")
    v.add_argument("--label-b", default="knot")
    v.add_argument("--show", type=int, default=30, help="mismatches printed in full")
    sub.add_parser("latency")
    args = p.parse_args()
    return {"generate": generate, "verify": verify, "latency": latency}[args.cmd](args) or 0


if __name__ == "__main__":
    sys.exit(main())
