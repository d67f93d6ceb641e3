"""A tiny DNS server for tests: what Docker's embedded DNS (127.0.0.11 in
a container's /etc/resolv.conf on a user-defined network such as dbnet)
does for service names, on a loopback address of our choosing.

    with Dns({"postgres": "127.0.0.1", "redis": "127.0.0.1"}) as dns:
        open(root + "/etc/resolv.conf", "w").write("nameserver %s\\n" % dns.address)
        ...
        dns.queries   # [(name, qtype), ...] every question received

UDP on port 53 (resolvers such as musl's always use 53), so it needs root.
Answers A questions for the names given, NOERROR with no answer for other
types of a known name (AAAA: the client falls back to A), NXDOMAIN else
(RFC 1035 4.1). Standard library only.
"""

import random
import socket
import struct
import threading

TYPE_A = 1


class Dns:
    def __init__(self, names):
        self.names = {n.lower().rstrip("."): ip for n, ip in names.items()}
        self.queries = []
        self.sock = None
        for _ in range(20):
            # a random 127.53.x.y: parallel runs do not collide on :53
            addr = "127.53.%d.%d" % (random.randint(0, 255), random.randint(1, 254))
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind((addr, 53))
            except OSError:
                s.close()
                continue
            self.sock, self.address = s, addr
            break
        if self.sock is None:
            raise RuntimeError("no free loopback address for a DNS server on port 53")
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @staticmethod
    def parse_question(msg):
        labels, i = [], 12
        while msg[i]:
            n = msg[i]
            labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        qtype, qclass = struct.unpack("!HH", msg[i + 1:i + 5])
        return ".".join(labels).lower(), qtype, msg[12:i + 5]

    def answer(self, msg):
        qid, = struct.unpack("!H", msg[:2])
        name, qtype, question = self.parse_question(msg)
        self.queries.append((name, qtype))
        ip = self.names.get(name)
        rcode = 0 if ip else 3  # NXDOMAIN
        answers = b""
        if ip and qtype == TYPE_A:
            # a pointer to the question's name (offset 12), A, IN, TTL 60
            answers = struct.pack("!HHHIH", 0xC00C, TYPE_A, 1, 60, 4) + socket.inet_aton(ip)
        flags = 0x8180 | rcode  # response, recursion desired + available
        header = struct.pack("!HHHHHH", qid, flags, 1, 1 if answers else 0, 0, 0)
        return header + question + answers

    def serve(self):
        while not self.stopping:
            try:
                msg, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self.sock.sendto(self.answer(msg), peer)
            except (IndexError, struct.error, OSError):
                continue  # malformed question: no answer, as a server would drop it

    def close(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
