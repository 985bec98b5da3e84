#!/usr/bin/env python3
"""Prints docs/operations.md's metrics reference table from the source.

Names, types and meanings come from crates/server/src/metrics/describe.rs
and crates/shardgate/src/logging.rs (constants such as `super::redis_sync::ERRORS` resolved); labels from the
`counter!`/`gauge!`/`histogram!` call sites in crates/ (inline `"k" =>`
pairs, or a `&labels` array defined earlier in the same file).
Run from the workspace root: python3 tools/metrics_table.py
"""
import glob
import re

SRC = sorted(glob.glob("crates/**/*.rs", recursive=True))
TEXT = {p: open(p).read() for p in SRC}


def calls(text, macro):
    """Yields the argument text of every `macro!(...)` in text."""
    for m in re.finditer(r"\b" + macro + r"!\(", text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        yield m.start(), text[m.end():i - 1]


def consts():
    """CONST name -> metric name string, for every `const X: &str = "shardgate_..."`."""
    out = {}
    for text in TEXT.values():
        for m in re.finditer(r'const (\w+): &str =\s*"(shardgate_\w+)"', text):
            out[m.group(1)] = m.group(2)
    return out


def name_of(arg, names):
    arg = arg.strip()
    if arg.startswith('"'):
        return arg.strip('"')
    return names.get(arg.split("::")[-1])


def labels():
    """metric name -> set of label keys seen at call sites."""
    names, out = consts(), {}
    for path, text in TEXT.items():
        if path.endswith("describe.rs"):
            continue
        for macro in ("counter", "gauge", "histogram"):
            for at, args in calls(text, macro):
                first, _, rest = args.partition(",")
                name = name_of(first, names)
                if not name:
                    continue
                keys = set(re.findall(r'"(\w+)"\s*=>', rest))
                var = re.search(r"&(\w+)", rest)
                if var:
                    defs = [m for m in re.finditer(r"let " + var.group(1) + r"\s*=\s*\[(.*?)\];", text[:at], re.S)]
                    if defs:
                        keys |= set(re.findall(r'\(\s*"(\w+)"', defs[-1].group(1)))
                out.setdefault(name, set()).update(keys)
    return out


def main():
    names, seen = consts(), labels()
    # The server's families, then the binary's own (its TLS library log
    # counter).
    text = "".join(
        TEXT[p].split("#[cfg(test)]")[0]
        for p in ("crates/server/src/metrics/describe.rs", "crates/shardgate/src/logging.rs")
    )
    print("| Metric | Type | Labels | Meaning |")
    print("|---|---|---|---|")
    rows = []
    for kind in ("counter", "gauge", "histogram"):
        for at, args in calls(text, "describe_" + kind):
            first, _, rest = args.partition(",")
            name = name_of(first, names)
            desc = " ".join(re.findall(r'"((?:[^"\\]|\\[\s\S])*)"', rest))
            # A Rust string continued with a trailing backslash.
            desc = re.sub(r"\\\n\s*", "", desc)
            keys = ", ".join(f"`{k}`" for k in sorted(seen.get(name, ()))) or "none"
            rows.append((at, f"| `{name}` | {kind} | {keys} | {desc.replace('|', '/')} |"))
    for _, row in sorted(rows):
        print(row)


main()
