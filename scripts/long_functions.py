#!/usr/bin/env python3
"""Lists functions longer than a limit and files longer than a limit.

Google style puts a function's opening line and closing brace at column 0
(namespaces are not indented), so a definition is a column-0 line with a '('
that ends in '{' and runs to the next column-0 '}'. Good enough to find the
functions a reader cannot hold in their head; not a C++ parser.
"""
import argparse
import os
import re
import sys

SOURCE_DIRS = ["common", "kernels", "storage", "datasets", "index", "server", "client", "cli", "bench", "fuzz"]


CONTROL = ("if ", "if(", "for ", "for(", "while ", "while(", "switch ", "switch(", "else", "do ",
           "do{", "catch", "try", "return", "namespace", "class ", "struct ", "enum ", "union ",
           "extern ", "#", "//", "}", "case ")


def functions(path):
    """Yields (name, first line, length) of definitions at indentation 0 or 2.

    Indentation 0 holds free functions and out-of-class member definitions;
    indentation 2 holds functions defined in a class body (and lambdas bound
    at a function's top level). A definition runs from its signature to the
    next line holding only its closing brace at the same indentation.
    """
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    for indent in (0, 2):
        pad = " " * indent
        close = re.compile("^" + pad + r"\}[;,)]*\s*(//.*)?$")
        i = 0
        while i < len(lines):
            line = lines[i]
            body = line[indent:]
            if line.startswith(pad) and body and not body[0].isspace() and "(" in line \
                    and not body.startswith(CONTROL):
                # The signature may wrap: its '{' ends this line or one of the next few.
                j = i
                while j < len(lines) and j < i + 8 and not lines[j].rstrip().endswith(("{", ";")):
                    j += 1
                if j < len(lines) and lines[j].rstrip().endswith("{") \
                        and not lines[j].rstrip().endswith(("= {", "({", "[{")):
                    k = j + 1
                    while k < len(lines) and not close.match(lines[k]):
                        if lines[k] and not lines[k].startswith(pad):
                            break  # left the enclosing scope: not a definition
                        k += 1
                    if k < len(lines) and close.match(lines[k]):
                        m = re.search(r"([A-Za-z_][A-Za-z_0-9:~<>]*)\s*\(", line)
                        yield (m.group(1) if m else body.strip()), i + 1, k + 1 - i
                        i = k + 1
                        continue
            i += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    ap.add_argument("--function-lines", type=int, default=120)
    ap.add_argument("--file-lines", type=int, default=700)
    ap.add_argument("--allow", help="file of named exceptions: `path` or `path function`, "
                    "then ` # why`; each must still be over the limit")
    args = ap.parse_args()
    allowed = {}
    if args.allow:
        with open(args.allow, encoding="utf-8") as f:
            for line in f:
                entry = line.split("#", 1)[0].strip()
                if entry:
                    allowed[entry] = False
    found = 0
    for d in SOURCE_DIRS:
        for dirpath, _, names in os.walk(os.path.join(args.root, d)):
            for n in sorted(names):
                if not n.endswith((".cc", ".h")):
                    continue
                p = os.path.join(dirpath, n)
                rel = os.path.relpath(p, args.root)
                with open(p, encoding="utf-8", errors="replace") as f:
                    total = sum(1 for _ in f)
                if total > args.file_lines:
                    if rel in allowed:
                        allowed[rel] = True
                    else:
                        print(f"file {rel}: {total} lines")
                        found += 1
                for name, line, length in functions(p):
                    if length > args.function_lines:
                        key = f"{rel} {name}"
                        if key in allowed:
                            allowed[key] = True
                        else:
                            print(f"function {rel}:{line} {name}: {length} lines")
                            found += 1
    for entry, used in allowed.items():
        if not used:
            print(f"exception no longer needed (remove it from {args.allow}): {entry}")
            found += 1
    if not found:
        print(f"sizes: no function over {args.function_lines} lines, no file over "
              f"{args.file_lines} lines, {len(allowed)} named exception(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
