"""make_ca.sh: a CA and a server certificate that verify, for both key
types, naming 127.0.0.1 as IP address and as dNSName (for BearSSL)."""

import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))


def test_make_ca_ec_and_rsa(tmp_path):
    for kind in ("ec", "rsa"):
        d = str(tmp_path / kind)
        subprocess.run([os.path.join(HERE, "make_ca.sh"), d], check=True, env={**os.environ, "KEY_TYPE": kind})
        v = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(d, "ca.pem"), os.path.join(d, "server.pem")],
                           capture_output=True, text=True)
        assert v.returncode == 0 and "OK" in v.stdout, v
        text = subprocess.run(["openssl", "x509", "-in", os.path.join(d, "server.pem"), "-noout", "-text"],
                              capture_output=True, text=True, check=True).stdout
        assert "IP Address:127.0.0.1" in text and "DNS:127.0.0.1" in text and "DNS:localhost" in text
        assert "TLS Web Server Authentication" in text
        assert ("rsaEncryption" in text) == (kind == "rsa")
        assert oct(os.stat(os.path.join(d, "server.key")).st_mode & 0o777) == "0o600"
    bad = subprocess.run([os.path.join(HERE, "make_ca.sh"), str(tmp_path / "x")], env={**os.environ, "KEY_TYPE": "dsa"},
                         capture_output=True, text=True)
    assert bad.returncode == 2
