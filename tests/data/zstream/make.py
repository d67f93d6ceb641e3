#!/usr/bin/python3
# Regenerates four_payloads.bin (one zlib stream, each payload ended with
# Z_SYNC_FLUSH, as Discord's gateway sends with compress=zlib-stream) and
# the expected payloads four_payloads.N.json, from message_create.json.
# Run from this directory: /usr/bin/python3 make.py
import zlib

mc = open('message_create.json', 'rb').read().strip()
payloads = [
    b'{"t":null,"s":null,"op":10,"d":{"heartbeat_interval":41250,"_trace":["[\\"gateway-prd-us-east1-b-0568\\",{\\"micros\\":0.0}]"]}}',
    b'{"t":null,"s":null,"op":11,"d":null}',
    mc,
    b'{"t":null,"s":null,"op":11,"d":null}',
]
c = zlib.compressobj()
out = b''
for p in payloads:
    out += c.compress(p) + c.flush(zlib.Z_SYNC_FLUSH)
open('four_payloads.bin', 'wb').write(out)
for i, p in enumerate(payloads):
    open('four_payloads.%d.json' % (i + 1), 'wb').write(p)
