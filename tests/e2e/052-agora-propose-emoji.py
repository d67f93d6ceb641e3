#!/usr/bin/python3
"""052 — /propose_emoji (spec 6.1) and its approval (6.3), end to end.

Proves, with the real ./agora against the emulator (its CDN serving the
attachments), PostgreSQL and Redis:
  1. a 64x64 PNG: "Thank you! ..." within 3 s; the row holds the exact bytes
     (sha256 equal to the CDN's) and image/png; fetched from the CDN once;
     "New emoji proposal #1" in the admin channel with name and size; the
     queue embed lists "[#1] - Emoji - <@user> - party_parrot";
  2. each refusal has its own message, and a declared size over 256 KiB is
     refused WITHOUT any CDN request: name rules, declared size, extension,
     extension vs content, declared content type vs content, not an image,
     not square, too small, too large, a body larger than declared (the
     capped download), the CDN answering 404; no row for any of them;
  3. an animated GIF (3 frames) is accepted;
  4. a second pending emoji by the same member: "You already have a
     pending emoji proposal.";
  5. approval days later does not need the attachment URL: the URL is
     expired (the CDN answers 404), approving creates the emoji from the
     stored bytes (sha256 equal), no CDN request; the DM "Your emoji
     proposal 'party_parrot' has been approved!"; the buttons have no
     Re-run, and a forged Re-run click is refused;
  6. emoji slots full: Discord's "Maximum number of emojis reached"
     reaches the admin and the proposal stays pending.
"""

import hashlib
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import ADMIN_PERMISSIONS, ADMIN_USER, GUILD, MEMBER_USER, Agora, World, psql  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402

THANKS = "Thank you! Your proposal has been submitted for review."


def final_answer(emu, inj, timeout=15):
    def final():
        it = emu.interaction(inj["id"])
        if not it["responses"]:
            return None
        r = it["responses"][0]
        assert r["elapsed"] < 3.0, r
        if r["type"] in (4, 7):
            if r["type"] == 4:
                assert r["data"].get("flags", 0) & 64, r
            return r["data"].get("content"), r["data"].get("components")
        if it["edits"]:
            b = it["edits"][-1]["body"]
            return b.get("content"), b.get("components")
        return None
    return Control.wait_for(final, timeout=timeout, what="an answer to %s" % inj["id"])


def propose(emu, user, name, att_id):
    inj = emu.inject_slash("propose_emoji", {"name": name, "file": att_id}, user_id=user,
                           permissions="0")
    return final_answer(emu, inj)[0]


def cdn_fetches(emu, att_id):
    return [r for r in emu.cdn_requests() if "/%s/" % att_id in r["path"]]


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-052-")
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        users = ["13000000000000007%02d" % i for i in range(30)]
        for u in users:
            emu.add_member(GUILD, {"user": {"id": u, "username": "e" + u[-2:]}, "roles": [],
                                   "announce": False})
        with Agora(os.path.join(tmp, "bot"), emu, world) as bot:
            bot.wait_online()
            db = bot.db

            # 1. a valid PNG; its URL expires in 8 s (used in 5)
            att = emu.add_attachment("parrot.png", png={"width": 64, "height": 64}, expires_in=8)
            assert propose(emu, MEMBER_USER, "party_parrot", att["id"]) == THANKS
            out = Control.wait_for(lambda: psql(
                "SELECT proposal_id, proposal_type, original_text, emoji_content_type, "
                "encode(sha256(emoji_image), 'hex'), octet_length(emoji_image) FROM proposals", db=db),
                timeout=10, what="the emoji row")
            pid, ptype, name, ctype, sha, size = out.split("|")
            assert (ptype, name, ctype, sha, int(size)) == ("emoji", "party_parrot", "image/png",
                                                            att["sha256"], att["data_size"]), out
            assert len(cdn_fetches(emu, att["id"])) == 1, cdn_fetches(emu, att["id"])
            note = Control.wait_for(lambda: [m for m in emu.messages(world.admin_channel) if any(
                e.get("title") == "New emoji proposal #%s" % pid for e in m.get("embeds") or [])],
                timeout=10, what="the admin notification")[0]
            fields = {f["name"]: f["value"] for f in note["embeds"][0]["fields"]}
            assert fields["Name"] == "party_parrot" and fields["Image"] == "%d bytes" % att["data_size"], fields
            Control.wait_for(lambda: any("[#%s] - Emoji - <@%s> - party_parrot" % (pid, MEMBER_USER) in
                                         (m["embeds"] or [{}])[0].get("description", "")
                                         for m in emu.messages(world.ids["QUEUE_CHANNEL_ID"])),
                             timeout=10, what="the queue line")
            print("1. emoji #%s stored (%d bytes, sha256 equal), notified, queued" % (pid, int(size)))

            # 2. refusals, each its own message, none leaving a row
            big = emu.add_attachment("big.png", png={"width": 64, "height": 64}, size=300000)
            cases = [
                ("bad name!", emu.add_attachment("a.png", png={"width": 64, "height": 64}),
                 "The emoji name must be 2-32 characters: letters, digits and underscores only, no spaces."),
                ("x", emu.add_attachment("a.png", png={"width": 64, "height": 64}),
                 "The emoji name must be 2-32 characters: letters, digits and underscores only, no spaces."),
                ("big", big, "The file is too large: 300000 bytes. An emoji may be at most 256 KB (262,144 bytes)."),
                ("text", emu.add_attachment("notes.txt", data="hello"),
                 "The file name must end in .png, .jpg, .jpeg or .gif."),
                ("gif_named_png", emu.add_attachment("anim.png", gif={"width": 64, "height": 64, "frames": 2},
                                                     content_type="image/png"),
                 "The file name says PNG, but the file is a GIF image."),
                ("wrong_type", emu.add_attachment("ok.png", png={"width": 64, "height": 64},
                                                  content_type="image/gif"),
                 "The attachment's content type (image/gif) does not match the file, which is a PNG image."),
                ("not_image", emu.add_attachment("fake.png", data="<html>not an image</html>"),
                 "The file is not a PNG, JPEG or GIF image."),
                ("wide", emu.add_attachment("wide.png", png={"width": 64, "height": 32}),
                 "The image must be square: it is 64x32 pixels."),
                ("tiny", emu.add_attachment("tiny.png", png={"width": 16, "height": 16}),
                 "The image is too small: 16x16 pixels. An emoji must be at least 32x32."),
                ("huge", emu.add_attachment("huge.png", png={"width": 300, "height": 300}),
                 "The image is too large: 300x300 pixels. An emoji may be at most 256x256."),
                ("liar", emu.add_attachment("liar.png", fill_size=300000, size=1000),
                 "The file is too large. An emoji may be at most 256 KB (262,144 bytes)."),
                ("gone", emu.add_attachment("gone.png", png={"width": 64, "height": 64}, status=404),
                 "The file could not be downloaded from Discord (HTTP 404). Please upload it again."),
            ]
            for k, (name, a, want) in enumerate(cases):
                got = propose(emu, users[k], name, a["id"])
                assert got == want, (name, got)
                print("2. %-13s -> %s" % (name, got))
            assert cdn_fetches(emu, big["id"]) == [], "declared too large, yet downloaded"
            assert psql("SELECT count(*) FROM proposals", db=db) == "1"

            # 3. an animated GIF
            anim = emu.add_attachment("dance.gif", gif={"width": 64, "height": 64, "frames": 3})
            assert propose(emu, users[20], "dance", anim["id"]) == THANKS
            Control.wait_for(lambda: psql("SELECT emoji_content_type FROM proposals WHERE user_id = %s"
                                          % users[20], db=db) == "image/gif", timeout=10, what="gif row")
            print("3. animated GIF accepted")

            # 4. one pending emoji per member
            again = emu.add_attachment("b.png", png={"width": 32, "height": 32})
            assert propose(emu, MEMBER_USER, "second", again["id"]) == \
                "You already have a pending emoji proposal."
            print("4. a second pending emoji refused")

            # 5. approval after the URL expired: from the stored bytes
            time.sleep(9)  # past the URL's 8 s expiry
            fetches = len(emu.cdn_requests())
            inj = emu.inject_slash("approve_proposal", {"proposal_id": int(pid)}, user_id=ADMIN_USER,
                                   permissions=ADMIN_PERMISSIONS)
            text, comps = final_answer(emu, inj)
            labels = [c["label"] for row in comps for c in row["components"]]
            assert labels == ["Approve as party_parrot", "Override Name"], labels
            msg = emu.interaction(inj["id"])["original_id"]
            rerun = emu.inject_component("pq:rerun:%s" % pid, message_id=msg, user_id=ADMIN_USER,
                                         permissions=ADMIN_PERMISSIONS)
            text, _ = final_answer(emu, rerun)
            assert text == "Proposal #%s is an emoji: only channel names come from the LLM." % pid, text
            inj = emu.inject_component("pq:approve:%s" % pid, message_id=msg, user_id=ADMIN_USER,
                                       permissions=ADMIN_PERMISSIONS)
            text, _ = final_answer(emu, inj)
            assert text == "Proposal #%s approved: emoji :party_parrot: created." % pid, text
            emojis = [e for e in emu.emojis(GUILD)["emojis"] if e["name"] == "party_parrot"]
            assert len(emojis) == 1 and emojis[0]["image_sha256"] == att["sha256"], emojis
            assert len(emu.cdn_requests()) == fetches, "the approval fetched the expired URL"
            Control.wait_for(lambda: any("Your emoji proposal 'party_parrot' has been approved!" ==
                                         m["content"] for c in emu.get("/channels")
                                         if c.get("dm_user_id") == MEMBER_USER for m in emu.messages(c["id"])),
                             timeout=10, what="the approval DM")
            print("5. approved from the stored bytes after the URL expired; emoji sha256 equal")

            # 6. emoji slots full
            emu.emoji_limits(GUILD, static=1, animated=0)
            gid = psql("SELECT proposal_id FROM proposals WHERE user_id = %s" % users[20], db=db)
            inj = emu.inject_slash("approve_proposal", {"proposal_id": int(gid)}, user_id=ADMIN_USER,
                                   permissions=ADMIN_PERMISSIONS)
            final_answer(emu, inj)
            msg = emu.interaction(inj["id"])["original_id"]
            text, _ = final_answer(emu, emu.inject_component("pq:approve:%s" % gid, message_id=msg,
                                                             user_id=ADMIN_USER,
                                                             permissions=ADMIN_PERMISSIONS))
            assert text.startswith("Discord refused to create the emoji 'dance': Maximum number of "
                                   "animated emojis reached"), text
            assert psql("SELECT status FROM proposals WHERE proposal_id = %s" % gid, db=db) == "pending"
            print("6. slots full: %r" % text)
    print("ok")


if __name__ == "__main__":
    main()
