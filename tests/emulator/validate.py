"""Discord's request limits, answered in Discord's error format.

Every check returns an `errors` tree shaped as Discord shapes it (docs:
Reference, "Error Messages"): nested objects keyed by field name or list
index, leaves {"_errors": [{"code": ..., "message": ...}]}. An empty tree
means valid. The REST layer wraps a non-empty tree into
{"code": 50035, "errors": tree, "message": "Invalid Form Body"} (HTTP 400).
"""

import base64
import re
import unicodedata


def err(code, message):
    return {"_errors": [{"code": code, "message": message}]}


def put(tree, path, leaf):
    """Set tree[path...] = leaf (merging _errors lists)."""
    node = tree
    for key in path[:-1]:
        node = node.setdefault(str(key), {})
    last = str(path[-1])
    if last in node and "_errors" in node[last]:
        node[last]["_errors"].extend(leaf["_errors"])
    else:
        node.setdefault(last, {}).update(leaf)


def max_len(n):
    return err("BASE_TYPE_MAX_LENGTH", "Must be %d or fewer in length." % n)


def bad_len(lo, hi):
    return err("BASE_TYPE_BAD_LENGTH", "Must be between %d and %d in length." % (lo, hi))


def required():
    return err("BASE_TYPE_REQUIRED", "This field is required")


def check_str(tree, path, value, lo, hi, need=False):
    """A string field of lo..hi characters (None allowed unless need)."""
    if value is None:
        if need:
            put(tree, path, required())
        return 0
    if not isinstance(value, str):
        put(tree, path, err("STRING_TYPE_CONVERT", "Could not interpret \"%s\" as string." % (value,)))
        return 0
    n = len(value)
    if need and lo <= 0 and n == 0:
        put(tree, path, required())
    elif lo <= 0 and n > hi:
        put(tree, path, max_len(hi))
    elif n < lo or n > hi:
        put(tree, path, bad_len(lo, hi))
    return n


# ------------------------------------------------------------------ messages
# docs: Channel / Message, "Embed Limits"
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELDS = 25
EMBED_FIELD_NAME = 256
EMBED_FIELD_VALUE = 1024
EMBED_FOOTER = 2048
EMBED_AUTHOR = 256
EMBED_TOTAL = 6000
MAX_EMBEDS = 10
CONTENT_MAX = 2000
ALLOWED_MENTION_TYPES = ("roles", "users", "everyone")


def embed_errors(tree, i, e):
    """Check one embed; returns its character count toward the 6000 total."""
    path = ["embeds", i]
    if not isinstance(e, dict):
        put(tree, path, err("MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType"))
        return 0
    total = check_str(tree, path + ["title"], e.get("title"), 0, EMBED_TITLE)
    total += check_str(tree, path + ["description"], e.get("description"), 0, EMBED_DESCRIPTION)
    fields = e.get("fields") or []
    if len(fields) > EMBED_FIELDS:
        put(tree, path + ["fields"], max_len(EMBED_FIELDS))
    for j, f in enumerate(fields):
        total += check_str(tree, path + ["fields", j, "name"], f.get("name"), 0, EMBED_FIELD_NAME, need=True)
        total += check_str(tree, path + ["fields", j, "value"], f.get("value"), 0, EMBED_FIELD_VALUE, need=True)
    if isinstance(e.get("footer"), dict):
        total += check_str(tree, path + ["footer", "text"], e["footer"].get("text"), 0, EMBED_FOOTER, need=True)
    if isinstance(e.get("author"), dict):
        total += check_str(tree, path + ["author", "name"], e["author"].get("name"), 0, EMBED_AUTHOR, need=True)
    return total


def message_errors(body, allow_flags=0):
    """Errors of a create/edit message body (channel message, interaction
    response data, webhook). Returns (tree, empty) where empty is True when
    the message would have nothing to show (-> 50006)."""
    tree = {}
    content = body.get("content")
    check_str(tree, ["content"], content, 0, CONTENT_MAX)
    embeds = body.get("embeds")
    if embeds is None and body.get("embed") is not None:
        embeds = [body["embed"]]
    embeds = embeds or []
    if not isinstance(embeds, list):
        put(tree, ["embeds"], err("LIST_TYPE_CONVERT", "Only iterables may be used in a ListType"))
        embeds = []
    if len(embeds) > MAX_EMBEDS:
        put(tree, ["embeds"], max_len(MAX_EMBEDS))
    total = sum(embed_errors(tree, i, e) for i, e in enumerate(embeds))
    if total > EMBED_TOTAL:
        put(tree, ["embeds"], err("MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"))
    am = body.get("allowed_mentions")
    if am is not None:
        if not isinstance(am, dict):
            put(tree, ["allowed_mentions"], err("MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType"))
        else:
            for j, p in enumerate(am.get("parse") or []):
                if p not in ALLOWED_MENTION_TYPES:
                    put(tree, ["allowed_mentions", "parse", j],
                        err("BASE_TYPE_CHOICES", "Value must be one of ('roles', 'users', 'everyone')."))
            if "users" in (am.get("parse") or []) and am.get("users"):
                put(tree, ["allowed_mentions"], err("SET_TYPE_ALREADY_CONTAINS_VALUE",
                                                    "parse:users and users are mutually exclusive"))
    flags = body.get("flags")
    if flags is not None:
        # SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS, IS_COMPONENTS_V2 + what the caller allows
        ok = (1 << 2) | (1 << 12) | (1 << 15) | allow_flags
        if not isinstance(flags, int) or flags & ~ok:
            put(tree, ["flags"], err("MESSAGE_FLAGS_INVALID", "Invalid flags"))
    comps = body.get("components")
    if comps is not None and isinstance(comps, list):
        if len(comps) > 5 and not (isinstance(flags, int) and flags & (1 << 15)):
            put(tree, ["components"], max_len(5))
        for i, row in enumerate(comps):
            for j, c in enumerate((row or {}).get("components") or []):
                check_str(tree, ["components", i, "components", j, "custom_id"], c.get("custom_id"), 1, 100)
                check_str(tree, ["components", i, "components", j, "label"], c.get("label"), 0, 80)
    empty = (not content and not embeds and not comps and not body.get("sticker_ids")
             and not body.get("attachments") and not body.get("poll"))
    return tree, empty


# ------------------------------------------------------------------ commands
# docs: Interactions / Application Commands, "Application Command Naming"
OPTION_TYPES = range(1, 12)  # SUB_COMMAND .. ATTACHMENT
CHOICE_TYPES = (3, 4, 10)    # STRING, INTEGER, NUMBER


def valid_command_name(name, chat_input=True):
    """^[-_\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$ and lowercase where a
    lowercase variant exists (CHAT_INPUT names and option names)."""
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        return False
    if not chat_input:
        return True  # USER / MESSAGE commands: any 1-32 characters
    for ch in name:
        cat = unicodedata.category(ch)
        if ch not in "-_" and cat[0] not in "LN" and cat not in ("Mn", "Mc"):
            return False
        if ch.lower() != ch:
            return False
    return True


def option_errors(tree, path, opt, depth):
    if not isinstance(opt, dict):
        put(tree, path, err("MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType"))
        return
    otype = opt.get("type")
    if otype not in OPTION_TYPES:
        put(tree, path + ["type"], err("BASE_TYPE_CHOICES",
                                       "Value must be one of {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}."))
    if not valid_command_name(opt.get("name")):
        put(tree, path + ["name"], err("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"))
    check_str(tree, path + ["description"], opt.get("description"), 1, 100, need=True)
    choices = opt.get("choices")
    if choices is not None:
        if otype not in CHOICE_TYPES:
            put(tree, path + ["choices"], err("APPLICATION_COMMAND_OPTION_CHOICES_INVALID",
                                              "Choices are only valid for string, integer and number options"))
        elif len(choices) > 25:
            put(tree, path + ["choices"], max_len(25))
        for k, c in enumerate(choices or []):
            check_str(tree, path + ["choices", k, "name"], c.get("name"), 1, 100, need=True)
            v = c.get("value")
            if otype == 3 and not isinstance(v, str):
                put(tree, path + ["choices", k, "value"], err("STRING_TYPE_CONVERT", "Could not interpret value as string."))
            elif otype == 3:
                check_str(tree, path + ["choices", k, "value"], v, 1, 100)
            elif otype in (4, 10) and (isinstance(v, bool) or not isinstance(v, (int, float))):
                put(tree, path + ["choices", k, "value"], err("NUMBER_TYPE_COERCE", "Value is not a valid number."))
    if opt.get("autocomplete"):
        if otype not in CHOICE_TYPES:
            put(tree, path + ["autocomplete"], err("APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID",
                                                   "Autocomplete is only valid for string, integer and "
                                                   "number options"))
        elif choices:
            put(tree, path + ["autocomplete"], err("APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID",
                                                   "Autocomplete cannot be used with choices"))
    if otype in (1, 2):
        if opt.get("required"):
            put(tree, path + ["required"], err("APPLICATION_COMMAND_OPTION_REQUIRED_INVALID",
                                               "Sub-commands cannot be required"))
        if depth >= 2 or (otype == 2 and depth >= 1):
            put(tree, path + ["type"], err("APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                                           "Sub-command groups cannot be nested this deep"))
    options_errors(tree, path + ["options"], opt.get("options"), depth + 1)


def options_errors(tree, path, options, depth):
    if options is None:
        return
    if not isinstance(options, list):
        put(tree, path, err("LIST_TYPE_CONVERT", "Only iterables may be used in a ListType"))
        return
    if len(options) > 25:
        put(tree, path, max_len(25))
    seen_optional = False
    names = set()
    for i, opt in enumerate(options):
        option_errors(tree, path + [i], opt, depth)
        if not isinstance(opt, dict):
            continue
        if opt.get("name") in names:
            put(tree, path + [i, "name"], err("APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                                              "Option names must be unique"))
        names.add(opt.get("name"))
        if opt.get("type") in (1, 2):
            continue
        if opt.get("required"):
            if seen_optional:
                put(tree, path, err("APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                                    "Required options must be placed before non-required options"))
        else:
            seen_optional = True


def command_errors(tree, path, cmd):
    if not isinstance(cmd, dict):
        put(tree, path, err("MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType"))
        return
    ctype = cmd.get("type", 1)
    if ctype not in (1, 2, 3, 4):
        put(tree, path + ["type"], err("BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4}."))
    if not valid_command_name(cmd.get("name"), chat_input=(ctype == 1)):
        put(tree, path + ["name"], err("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"))
    if ctype == 1:
        check_str(tree, path + ["description"], cmd.get("description"), 1, 100, need=True)
        options_errors(tree, path + ["options"], cmd.get("options"), 0)
    elif cmd.get("description"):
        put(tree, path + ["description"], err("APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                                              "Context menu commands cannot have description"))


def commands_errors(cmds):
    tree = {}
    if not isinstance(cmds, list):
        put(tree, ["_root"], err("LIST_TYPE_CONVERT", "Only iterables may be used in a ListType"))
        return tree
    if len(cmds) > 110:  # 100 chat input + 5 user + 5 message
        put(tree, ["_root"], max_len(110))
    seen = set()
    for i, c in enumerate(cmds):
        command_errors(tree, [i], c)
        if isinstance(c, dict):
            key = (c.get("type", 1), c.get("name"))
            if key in seen:
                put(tree, [i, "name"], err("APPLICATION_COMMANDS_DUPLICATE_NAME",
                                           "Application command names must be unique"))
            seen.add(key)
    if "_root" in tree:
        tree["_errors"] = tree.pop("_root")["_errors"]
    return tree


# ------------------------------------------------------------------ modals
def text_input_errors(tree, path, c, in_label):
    check_str(tree, path + ["custom_id"], c.get("custom_id"), 1, 100, need=True)
    if c.get("style") not in (1, 2):
        put(tree, path + ["style"], err("BASE_TYPE_CHOICES", "Value must be one of {1, 2}."))
    if in_label:
        if c.get("label") is not None:
            put(tree, path + ["label"], err("COMPONENT_LABEL_NOT_ALLOWED",
                                            "label is not allowed on a text input inside a Label"))
    else:
        check_str(tree, path + ["label"], c.get("label"), 1, 45, need=True)
    for k in ("min_length", "max_length"):
        v = c.get(k)
        if v is not None and (not isinstance(v, int) or not (0 if k == "min_length" else 1) <= v <= 4000):
            put(tree, path + [k], err("NUMBER_TYPE_MAX", "int value should be <= 4000."))
    check_str(tree, path + ["value"], c.get("value"), 0, 4000)
    check_str(tree, path + ["placeholder"], c.get("placeholder"), 0, 100)


def modal_errors(data):
    """docs: Interactions, "Modal" callback data + Components reference:
    1-5 top-level components, each an Action Row holding one Text Input,
    a Label (type 18) wrapping one Text Input / select, or a Text Display."""
    tree = {}
    if not isinstance(data, dict):
        put(tree, ["data"], required())
        return tree
    check_str(tree, ["data", "custom_id"], data.get("custom_id"), 1, 100, need=True)
    check_str(tree, ["data", "title"], data.get("title"), 1, 45, need=True)
    comps = data.get("components")
    if not isinstance(comps, list) or not 1 <= len(comps) <= 5:
        put(tree, ["data", "components"], bad_len(1, 5))
        return tree
    for i, c in enumerate(comps):
        p = ["data", "components", i]
        t = (c or {}).get("type")
        if t == 1:
            inner = c.get("components") or []
            if len(inner) != 1 or inner[0].get("type") != 4:
                put(tree, p + ["components"], err("COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                                                  "An action row in a modal holds exactly one text input"))
            else:
                text_input_errors(tree, p + ["components", 0], inner[0], False)
        elif t == 18:
            check_str(tree, p + ["label"], c.get("label"), 1, 45, need=True)
            check_str(tree, p + ["description"], c.get("description"), 0, 100)
            inner = c.get("component")
            if not isinstance(inner, dict):
                put(tree, p + ["component"], required())
            elif inner.get("type") == 4:
                text_input_errors(tree, p + ["component"], inner, True)
            elif inner.get("type") not in (3, 5, 6, 7, 8, 19):
                put(tree, p + ["component", "type"], err("COMPONENT_TYPE_INVALID",
                                                         "This component type is not allowed in a Label"))
        elif t == 10:
            check_str(tree, p + ["content"], c.get("content"), 1, 4000, need=True)
        else:
            put(tree, p + ["type"], err("COMPONENT_TYPE_INVALID", "Component type is invalid for modals"))
    return tree


# ------------------------------------------------------------------ channels, emoji
def channel_name_errors(tree, name, need):
    check_str(tree, ["name"], name, 1, 100, need=need)


EMOJI_NAME = re.compile(r"^[A-Za-z0-9_]{2,32}$")
EMOJI_MAX_BYTES = 256 * 1024  # docs: Emoji, "Create Guild Emoji": 256 KiB
DATA_URI = re.compile(r"^data:image/(png|jpeg|jpg|gif|webp|avif);base64,(.*)$", re.S)


def emoji_errors(body):
    """Returns (tree, decoded image bytes or None)."""
    tree = {}
    name = body.get("name")
    if name is None:
        put(tree, ["name"], required())
    elif not isinstance(name, str) or not 2 <= len(name) <= 32:
        put(tree, ["name"], bad_len(2, 32))
    elif not EMOJI_NAME.match(name):
        put(tree, ["name"], err("STRING_TYPE_REGEX", "String value did not match validation regex."))
    image = body.get("image")
    raw = None
    if image is None:
        put(tree, ["image"], required())
    else:
        m = DATA_URI.match(image) if isinstance(image, str) else None
        try:
            raw = base64.b64decode(m.group(2), validate=True) if m else None
        except ValueError:
            raw = None
        if raw is not None and len(raw) > EMOJI_MAX_BYTES:
            put(tree, ["image"], err("BINARY_TYPE_MAX_SIZE", "File cannot be larger than 256.0 kb."))
        elif raw is None or image_kind(raw) is None:
            # Discord decodes the image; bytes that are no image are refused
            put(tree, ["image"], err("IMAGE_INVALID", "Invalid image data"))
    return tree, raw


def image_kind(raw):
    """png / jpeg / gif / webp / avif by magic bytes, else None."""
    if raw is None:
        return None
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if raw.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if raw.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "webp"
    if raw[4:12] in (b"ftypavif", b"ftypavis"):
        return "avif"
    return None


def autocomplete_errors(data, otype=None):
    """docs: Interactions, "Autocomplete": callback type 8 data {choices:
    [{name 1-100, value}]}, at most 25; a value fits the focused option's
    type (string 1-100 for string options, a number for integer/number)."""
    tree = {}
    if not isinstance(data, dict):
        put(tree, ["data"], required())
        return tree
    choices = data.get("choices")
    if choices is None:
        put(tree, ["data", "choices"], required())
        return tree
    if not isinstance(choices, list):
        put(tree, ["data", "choices"], err("LIST_TYPE_CONVERT", "Only iterables may be used in a ListType"))
        return tree
    if len(choices) > 25:
        put(tree, ["data", "choices"], max_len(25))
    for k, c in enumerate(choices):
        p = ["data", "choices", k]
        if not isinstance(c, dict):
            put(tree, p, err("MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType"))
            continue
        check_str(tree, p + ["name"], c.get("name"), 1, 100, need=True)
        v = c.get("value")
        if v is None:
            put(tree, p + ["value"], required())
        elif otype == 3 or (otype is None and isinstance(v, str)):
            if not isinstance(v, str):
                put(tree, p + ["value"], err("STRING_TYPE_CONVERT", "Could not interpret value as string."))
            else:
                check_str(tree, p + ["value"], v, 1, 100)
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or (otype == 4 and not isinstance(v, int)):
            put(tree, p + ["value"], err("NUMBER_TYPE_COERCE", "Value \"%s\" is not %s." % (
                v, "int" if otype == 4 else "a valid number")))
    return tree
