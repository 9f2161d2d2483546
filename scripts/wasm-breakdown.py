#!/usr/bin/env python3
"""Where the console's wasm bytes go, by crate.

Usage: scripts/wasm-breakdown.py FILE.wasm [--top N] [--crate NAME]

FILE must still have its function names (the `name` section): the output of
`scripts/wasm-size.sh --breakdown`, or any wasm built without stripping and
passed through `wasm-opt -g`. Reads the module itself (no tools needed) and
prints the code size of every crate's functions, the data segments, and the
largest functions. A generic function is counted under the crate that defines
it, whoever instantiated it: the views of the pages show up mostly as
`tachys`/`leptos` instantiations. Use `--crate NAME` to list one crate's
largest functions.
"""

import re
import sys
from collections import defaultdict


def leb(buf, pos):
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def name_of(buf, pos):
    length, pos = leb(buf, pos)
    return buf[pos : pos + length].decode("utf-8", "replace"), pos + length


def sections(buf):
    assert buf[:4] == b"\0asm", "not a wasm module"
    pos = 8
    while pos < len(buf):
        sid = buf[pos]
        size, pos = leb(buf, pos + 1)
        yield sid, buf[pos : pos + size]
        pos += size


def read_module(buf):
    imported_funcs = 0
    bodies = []
    names = {}
    data = 0
    other = defaultdict(int)
    for sid, body in sections(buf):
        if sid == 2:  # imports
            count, pos = leb(body, 0)
            for _ in range(count):
                _, pos = name_of(body, pos)
                _, pos = name_of(body, pos)
                kind = body[pos]
                pos += 1
                if kind == 0:
                    imported_funcs += 1
                    _, pos = leb(body, pos)
                elif kind == 1:  # table: reftype, limits
                    pos += 1
                    flags, pos = leb(body, pos + 0)
                    _, pos = leb(body, pos)
                    if flags & 1:
                        _, pos = leb(body, pos)
                elif kind == 2:  # memory: limits
                    flags, pos = leb(body, pos)
                    _, pos = leb(body, pos)
                    if flags & 1:
                        _, pos = leb(body, pos)
                elif kind == 3:  # global: valtype, mutability
                    pos += 2
                else:
                    raise ValueError(f"unknown import kind {kind}")
        elif sid == 10:  # code
            count, pos = leb(body, 0)
            for _ in range(count):
                size, start = leb(body, pos)
                bodies.append(start - pos + size)
                pos = start + size
        elif sid == 11:
            data = len(body)
        elif sid == 0:
            custom, pos = name_of(body, 0)
            if custom == "name":
                while pos < len(body):
                    sub = body[pos]
                    size, pos = leb(body, pos + 1)
                    end = pos + size
                    if sub == 1:
                        count, p = leb(body, pos)
                        for _ in range(count):
                            index, p = leb(body, p)
                            name, p = name_of(body, p)
                            names[index] = demangle(name)
                    pos = end
            else:
                other[f"custom section {custom}"] += len(body)
        else:
            other[f"section {sid}"] += len(body)
    funcs = [(names.get(imported_funcs + i, f"func[{imported_funcs + i}]"), size) for i, size in enumerate(bodies)]
    return funcs, data, other, bool(names)


ESCAPES = {"$LT$": "<", "$GT$": ">", "$RF$": "&", "$LP$": "(", "$RP$": ")", "$C$": ",", "$BP$": "*", "$SP$": "@"}


def demangle(name):
    """Rust's legacy mangling (`_ZN...E`) back to a path, without the hash
    (wasm-bindgen demangles already, but leaves hashes and disambiguators)."""
    if not name.startswith("_ZN"):
        name = re.sub(r"::h[0-9a-f]{16}$", "", name)
        return re.sub(r"\[[0-9a-f]{16}\]", "", name)
    pos = 3
    parts = []
    while pos < len(name) and name[pos] != "E":
        m = re.match(r"\d+", name[pos:])
        if not m:
            return name
        length = int(m.group())
        pos += len(m.group())
        parts.append(name[pos : pos + length])
        pos += length
    if parts and re.fullmatch(r"h[0-9a-f]{16}", parts[-1]):
        parts.pop()
    out = []
    for part in parts:
        if part.startswith("_$"):
            part = part[1:]
        part = part.replace("..", "::")
        part = re.sub(r"\$u([0-9a-f]+)\$", lambda m: chr(int(m.group(1), 16)), part)
        for escape, char in ESCAPES.items():
            part = part.replace(escape, char)
        out.append(part)
    return "::".join(out)


PREFIXES = ("<", "&", "mut ", "dyn ", "impl ", "*const ", "*mut ", "[", "(")


def crate_of(name):
    """The crate whose code this is: for `<T as Trait>::f` the crate of T,
    unless T is a std type or a tuple/slice, then the trait's."""
    name = name.strip()
    if name.startswith("func["):
        return "(unnamed)"
    if name.startswith("_R"):  # v0 mangling (the precompiled std): its first crate
        m = re.search(r"C(?:s[0-9A-Za-z]*_)?(\d+)", name)
        if m:
            start = m.end()
            return name[start : start + int(m.group(1))]
        return "(?)"
    if name.startswith("<"):
        inner = name[1:]
        head = inner
        for prefix in PREFIXES:
            while head.startswith(prefix):
                head = head[len(prefix) :]
        owner = re.split(r"::|<| |>|,|\)", head, maxsplit=1)[0]
        trait = None
        m = re.search(r" as ([A-Za-z_][A-Za-z0-9_]*)::", inner)
        if m:
            trait = m.group(1)
        if owner in ("", "alloc", "core", "std", "u8", "u16", "u32", "u64", "usize", "i32", "i64", "f64", "bool", "str", "char", "T", "A", "B", "F", "E", "V") and trait:
            return trait
        return owner or trait or "(?)"
    return re.split(r"::|<", name, maxsplit=1)[0]


def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    path = args[0]
    top = 25
    only = None
    if "--top" in args:
        top = int(args[args.index("--top") + 1])
    if "--crate" in args:
        only = args[args.index("--crate") + 1]
    buf = open(path, "rb").read()
    funcs, data, other, named = read_module(buf)
    if not named:
        print(f"{path} has no function names: see --help", file=sys.stderr)
        return 1
    code = sum(size for _, size in funcs)
    by_crate = defaultdict(lambda: [0, 0])
    for name, size in funcs:
        entry = by_crate[crate_of(name)]
        entry[0] += size
        entry[1] += 1
    print(f"{path}: {len(buf)} bytes, code {code}, data {data}, {len(funcs)} functions")
    for label, size in sorted(other.items(), key=lambda kv: -kv[1]):
        if size >= 1024:
            print(f"  {label}: {size}")
    if only:
        print(f"\nlargest functions of {only}:")
        rows = sorted(((s, n) for n, s in funcs if crate_of(n) == only), reverse=True)[:top]
        for size, name in rows:
            print(f"{size:>9}  {name[:160]}")
        return 0
    print(f"\n{'bytes':>9} {'%code':>6} {'fns':>6}  crate")
    for crate, (size, count) in sorted(by_crate.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"{size:>9} {100 * size / code:>5.1f}% {count:>6}  {crate}")
    print(f"{data:>9}              data segments (strings, tables)")
    print(f"\nlargest {top} functions:")
    for name, size in sorted(funcs, key=lambda f: -f[1])[:top]:
        print(f"{size:>9}  {name[:160]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
