#!/usr/bin/python3
"""deploy_check.py AGORA — the three deployment files, checked without a
Docker daemon or a running systemd (tests/cli/run.sh calls this; one line
"ok - ..." or "FAIL - ..." per check):

- .dockerignore: Docker's rules (Go filepath.Match per path component, "**"
  across directories, "!" exceptions, a directory's exclusion covering what
  is under it) applied to the work tree as it is: .git, .cache, build, the
  binary, agora.conf and secrets/ stay out of the context, everything
  `./build.sh` reads stays in. `--copy-context DIR` copies the context there
  (to try `./build.sh` in it by hand).
- Dockerfile: the final stage is FROM scratch and copies exactly /agora and
  the CA bundle, the files tests/e2e/014 runs the binary with (and nothing
  else); no RUN; a non-root USER; HEALTHCHECK and ENTRYPOINT use /agora.
- docker-compose.yml: `docker-compose config` accepts it, and the commented
  PostgreSQL + Redis example too once uncommented (both on dbnet).
- deploy/agora.service: `systemd-analyze verify` with no warning (ExecStart
  pointed at AGORA), the keys the README promises (Restart=on-failure, a
  dedicated user, LoadCredential + SECRETS_DIR=%d, the journal), and the
  credential names are the secret names `agora --check-config` reads.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok - %s" % what)
    else:
        failed += 1
        print("FAIL - %s%s" % (what, ("\n    | " + "\n    | ".join(str(detail).splitlines()[:20])) if detail else ""))
    return cond


# ------------------------------------------------------------ .dockerignore
def pattern_regex(p):
    """Go filepath.Match plus Docker's "**" (any number of directories)."""
    out, i = "", 0
    while i < len(p):
        if p.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif p.startswith("**", i):
            out, i = out + ".*", i + 2
        elif p[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif p[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(p[i]), i + 1
    return re.compile("^" + out + "$")


def read_rules(path):
    rules = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            neg = line.startswith("!")
            p = os.path.normpath(line[1:] if neg else line).lstrip("/")
            rules.append((neg, pattern_regex(p)))
    return rules


def excluded(rel, rules):
    """Docker: the last matching rule wins; a path is out when it or one of
    its parent directories is matched by an exclusion."""
    parts = rel.split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        state = None
        for neg, rx in rules:
            if rx.match(prefix):
                state = not neg
        if state:
            return True
    return False


def context_files(rules):
    kept, dropped = [], []
    for d, dirs, files in os.walk(ROOT):
        for name in files:
            rel = os.path.relpath(os.path.join(d, name), ROOT)
            (dropped if excluded(rel, rules) else kept).append(rel)
    return sorted(kept), dropped


def check_dockerignore(copy_to=None):
    path = os.path.join(ROOT, ".dockerignore")
    if not check(os.path.exists(path), ".dockerignore exists"):
        return
    rules = read_rules(path)
    for rel, want_out in ((".git/HEAD", True), (".cache/deps/musl/lib/libz.a", True),
                          ("build/musl/obj/main.o", True), ("agora", True), ("agora.conf", True),
                          ("secrets/discord_bot_token", True), ("src/x/__pycache__/a.pyc", True),
                          ("tests/e2e/run.py", True),
                          ("build.sh", False), ("Makefile", False), ("VERSION", False),
                          ("vendor/manifest", False), ("sql/001_init.sql", False),
                          ("src/main.c", False), ("src/json.h", False), ("templates/a.md", False),
                          ("prompts/a.txt", False), ("Dockerfile", False), ("agora.conf.example", False)):
        check(excluded(rel, rules) == want_out, ".dockerignore %s %s" % ("drops" if want_out else "keeps", rel))
    kept, dropped = context_files(rules)
    # what ./build.sh and the Makefile read, as present in this tree
    need = ["build.sh", "Makefile", "VERSION", "vendor/manifest", "Dockerfile"]
    need += [os.path.relpath(os.path.join(d, f), ROOT) for sub in ("src", "sql", "templates", "prompts")
             for d, _, fs in os.walk(os.path.join(ROOT, sub)) for f in fs if "__pycache__" not in d]
    missing = [n for n in need if n not in kept and os.path.exists(os.path.join(ROOT, n))]
    check(not missing, "the build context holds every file ./build.sh reads (%d files)" % len(kept), missing)
    leaked = [k for k in kept if k.split("/")[0] in (".git", ".cache", "build", "secrets")
              or k in ("agora", "agora.conf")]
    check(not leaked, "no cache, build output, VCS data, binary, config or secret in the context", leaked[:10])
    if copy_to:
        for rel in kept:
            dst = os.path.join(copy_to, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, rel), dst)
        print("context copied to %s (%d files)" % (copy_to, len(kept)))


# ------------------------------------------------------------ Dockerfile
def check_dockerfile():
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        text = f.read().replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    last_from = max(i for i, ln in enumerate(lines) if ln.upper().startswith("FROM "))
    final = lines[last_from:]
    check(final[0].split()[1] == "scratch", "Dockerfile: the final stage is FROM scratch", final[0])
    copies = [ln.split() for ln in final if ln.upper().startswith(("COPY ", "ADD "))]
    dests = sorted(c[-1] for c in copies)
    # what tests/e2e/014 puts in its empty root besides the mounted config,
    # secrets and the runtime's device nodes
    check(dests == ["/agora", "/etc/ssl/certs/ca-certificates.crt"],
          "Dockerfile: the final stage holds only /agora and the CA bundle (e2e 014's root)", dests)
    check(all(c[0].upper() == "COPY" and c[1].startswith("--from=") for c in copies),
          "Dockerfile: both come from the build stage")
    check(not any(ln.upper().startswith("RUN ") for ln in final), "Dockerfile: no RUN in the final stage")
    user = [ln.split()[1] for ln in final if ln.upper().startswith("USER ")]
    check(user and user[-1].split(":")[0] not in ("0", "root"), "Dockerfile: runs as a non-root user", user)
    hc = [ln for ln in final if ln.upper().startswith("HEALTHCHECK ")]
    check(hc and '"/agora", "--healthcheck"' in hc[0], "Dockerfile: HEALTHCHECK runs /agora --healthcheck", hc)
    check(any(ln == 'ENTRYPOINT ["/agora"]' for ln in final), "Dockerfile: ENTRYPOINT is /agora")
    e2e = open(os.path.join(ROOT, "tests", "e2e", "014-agora-scratch-root.py")).read()
    check('"etc/ssl/certs/ca-certificates.crt"' in e2e and '"agora"' in e2e,
          "e2e 014 runs the binary in a root holding those same two files")


# ------------------------------------------------------------ compose
def uncomment_examples(text):
    out, inside = [], False
    for ln in text.splitlines():
        if re.match(r"^# BEGIN .*example$", ln):
            inside = True
            continue
        if re.match(r"^# END .*example$", ln):
            inside = False
            continue
        out.append(ln[2:] if inside and ln.startswith("# ") else ln)
    return "\n".join(out) + "\n"


def compose_config(text, tmp):
    with open(os.path.join(tmp, "docker-compose.yml"), "w") as f:
        f.write(text)
    r = subprocess.run(["docker-compose", "config"], cwd=tmp, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def check_compose():
    if not shutil.which("docker-compose"):
        check(False, "docker-compose is installed (build.sh's test packages install it)")
        return
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        text = f.read()
    with tempfile.TemporaryDirectory() as tmp:
        code, out, err = compose_config(text, tmp)
        check(code == 0 and not err.strip(), "docker-compose config accepts docker-compose.yml", err)
        check("dbnet:\n    external: true" in out and "- source: discord_bot_token" in out,
              "compose: the bot on the external dbnet with Docker secrets", out)
        example = uncomment_examples(text)
        check(example != text, "compose: the file carries a commented PostgreSQL + Redis example")
        code, out, err = compose_config(example, tmp)
        check(code == 0 and not err.strip(), "docker-compose config accepts the example once uncommented", err)
        for svc in ("postgres", "redis"):
            m = re.search(r"^  %s:\n((?:    .*\n)+)" % svc, out, re.M)
            check(m and "dbnet" in m.group(1), "compose example: %s on dbnet" % svc, out)
        # a misspelt key must be refused: the check can fail
        code, _, err = compose_config(example.replace("    restart:", "    restrat:", 1), tmp)
        check(code != 0 and "restrat" in err, "docker-compose config refuses a misspelt key (the check can fail)",
              err)


# ------------------------------------------------------------ systemd
def unit_values(text):
    vals = {}
    for ln in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", ln)
        if m:
            vals.setdefault(m.group(1), []).append(m.group(2))
    return vals


def check_systemd(agora):
    path = os.path.join(ROOT, "deploy", "agora.service")
    if not check(os.path.exists(path), "deploy/agora.service exists"):
        return
    text = open(path).read()
    v = unit_values(text)
    check(v.get("Restart") == ["on-failure"], "unit: Restart=on-failure")
    check(v.get("DynamicUser") == ["yes"] or (v.get("User") and v["User"][0] not in ("root", "0")),
          "unit: a dedicated unprivileged user")
    check("SECRETS_DIR=%d" in v.get("Environment", []), "unit: SECRETS_DIR is the credentials directory (%d)")
    creds = [c.split(":", 1)[0] for c in v.get("LoadCredential", [])]
    check("discord_bot_token" in creds and "db_password" in creds, "unit: the secrets come by LoadCredential", creds)
    check(v.get("StandardError") == ["journal"], "unit: logs to the journal")
    check(any("--check-config" in x for x in v.get("ExecStartPre", [])), "unit: --check-config before start")
    if shutil.which("systemd-analyze"):
        with tempfile.TemporaryDirectory() as tmp:
            unit = os.path.join(tmp, "agora.service")
            with open(unit, "w") as f:
                f.write(text.replace("/usr/local/bin/agora", agora))
            r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True, timeout=60)
            check(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
                  "systemd-analyze verify: no error, no warning", r.stdout + r.stderr)
            with open(unit, "w") as f:
                f.write(text.replace("/usr/local/bin/agora", agora).replace("Restart=", "Restrt="))
            r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True, timeout=60)
            check("Unknown key" in r.stderr, "systemd-analyze verify names a misspelt key (the check can fail)")
    else:
        print("skip - systemd-analyze not installed")
    # what systemd hands the process: a directory holding one file per
    # credential id; agora must find its secrets there
    with tempfile.TemporaryDirectory() as tmp:
        credentials = os.path.join(tmp, "credentials")
        os.makedirs(credentials)
        for c in creds:
            with open(os.path.join(credentials, c), "w") as f:
                f.write("credential-%s\n" % c)
        conf = os.path.join(tmp, "agora.conf")
        with open(os.path.join(ROOT, "agora.conf.example")) as src, open(conf, "w") as dst:
            for ln in src:
                if not ln.startswith(("SECRETS_DIR", "TLS_CA_FILE")):
                    dst.write(ln)
            dst.write("TLS_CA_FILE = %s\n" % os.path.join(ROOT, "agora.conf.example"))
        env = {k: val for k, val in os.environ.items() if k not in ("AGORA_CONFIG",)}
        env["SECRETS_DIR"] = credentials
        r = subprocess.run([agora, "--check-config", "-c", conf], capture_output=True, text=True, env=env)
        check(r.returncode == 0 and "discord_bot_token present, db_password present" in r.stdout,
              "agora --check-config reads its secrets from a credentials directory named as in the unit",
              r.stdout + r.stderr)


# ------------------------------------------------------------ README
def check_readme_fatal():
    """Every CRITICAL line the code can log, and the fatal reasons passed
    to it, appear in the README's "Fatal log lines" (by their longest
    literal piece), so the table cannot silently fall behind the code."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    section = readme[readme.find("## Fatal log lines"):readme.find("## Upgrading")]
    check("## Fatal log lines" in readme and section, "README has a Fatal log lines section")
    src = ""
    for name in sorted(os.listdir(os.path.join(ROOT, "src"))):
        if name.endswith(".c"):
            src += open(os.path.join(ROOT, "src", name)).read()
    formats = re.findall(r'log_crit\(\s*"[^"]*",\s*"((?:[^"\\]|\\.)*)"', src)
    # the texts handed to log_crit through "%s": gateway close reasons, the
    # 401 sentence, fail() reasons written as literals
    formats += re.findall(r'case 40\d\d:\s*return "([^"]+)"', src)
    formats += re.findall(r'FATAL_401\[\] = "([^"]+)"', src)
    formats += re.findall(r'\bfail\(b, "([^"]+)"\)', src)
    missing = []
    for f in formats:
        pieces = [p.strip(" :;,.") for p in re.split(r"%[-0-9.]*(?:ll|l|z)?[sdu]|\\n", f)]
        longest = max(pieces, key=len)
        if len(longest) >= 8 and longest not in section:
            missing.append(f)
    check(formats and not missing, "README's fatal table names every CRITICAL line (%d in the code)" % len(formats),
          missing)


def main():
    args = sys.argv[1:]
    copy_to = None
    if "--copy-context" in args:
        i = args.index("--copy-context")
        copy_to = args[i + 1]
        del args[i:i + 2]
    agora = os.path.abspath(args[0] if args else os.path.join(ROOT, "agora"))
    check_dockerignore(copy_to)
    check_dockerfile()
    check_compose()
    check_systemd(agora)
    check_readme_fatal()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
