#!/usr/bin/env python3
"""Fails when an #include or a CMake link goes against docs/ARCHITECTURE.md.

The folder table in docs/ARCHITECTURE.md (between the `layers:begin` and
`layers:end` markers) names, for each folder, its libraries and the folders it
may include. This reads every `#include "folder/..."` of the project's sources
and every `target_link_libraries` of its CMakeLists.txt and reports each edge
the table does not allow, with the file and line. A folder not in the table is
an error too, so a new folder must be placed before it can be used.

  check_layers.py [--root DIR]   check the tree (exit 1 on any violation)
  check_layers.py --self-test    check that a planted upward include and an
                                 upward link are caught
"""
import argparse
import os
import re
import shutil
import sys
import tempfile

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
LINK_RE = re.compile(r"target_link_libraries\(\s*([A-Za-z0-9_]+)(.*?)\)", re.S)
LIBRARY_RE = re.compile(r"add_(?:library|executable)\(\s*([A-Za-z0-9_]+)")
SOURCE_ENDINGS = (".cc", ".h")
# Test code may include whatever it tests.
UNCHECKED = {"tests"}


def read_table(root):
    """Returns {folder: (set(libraries), set(allowed folders))}."""
    path = os.path.join(root, "docs", "ARCHITECTURE.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- layers:begin -->(.*?)<!-- layers:end -->", text, re.S)
    if not m:
        raise SystemExit(f"{path}: no <!-- layers:begin --> ... <!-- layers:end --> table")
    table = {}
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`"):
            continue
        folder = cells[0].strip("`").rstrip("/")
        libraries = set(re.findall(r"`([A-Za-z0-9_]+)`", cells[1]))
        allowed = set(x.rstrip("/") for x in re.findall(r"`([a-z_/]+)`", cells[3]))
        table[folder] = (libraries, allowed)
    return table


def folder_of(rel_path, folders):
    """The longest table folder that holds rel_path, or None."""
    best = None
    for folder in folders:
        if rel_path == folder or rel_path.startswith(folder + "/"):
            if best is None or len(folder) > len(best):
                best = folder
    return best


def check(root):
    table = read_table(root)
    folders = set(table)
    library_folder = {lib: folder for folder, (libs, _) in table.items() for lib in libs}
    problems = []
    for dirpath, dirnames, names in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        top = rel_dir.split(os.sep)[0]
        hidden = rel_dir != "." and top.startswith(".")
        if hidden or top in UNCHECKED or top.startswith("build") or top == "node_modules":
            dirnames[:] = []
            continue
        for name in sorted(names):
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if name.endswith(SOURCE_ENDINGS):
                problems += check_includes(root, rel, table, folders)
            elif name == "CMakeLists.txt" and rel_dir != ".":
                problems += check_links(root, rel, table, library_folder)
    return problems


def check_includes(root, rel, table, folders):
    problems = []
    here = folder_of(rel, folders)
    if here is None:
        return [f"{rel}: folder not in the docs/ARCHITECTURE.md table"]
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            m = INCLUDE_RE.match(line)
            if not m:
                continue
            target = folder_of(m.group(1), folders)
            if target is None or target == here:
                continue  # a library header ("absl/...") or the folder's own
            if target not in table[here][1]:
                problems.append(f"{rel}:{number}: {here}/ may not include {m.group(1)} ({target}/)")
    return problems


def check_links(root, rel, table, library_folder):
    problems = []
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        text = f.read()
    if not LIBRARY_RE.search(text):
        return []  # only add_subdirectory
    here = folder_of(rel, set(table))
    if here is None:
        return [f"{rel}: folder not in the docs/ARCHITECTURE.md table"]
    for lib in LIBRARY_RE.findall(text):
        if lib.startswith("cairn") and library_folder.get(lib) != here:
            problems.append(f"{rel}: target {lib} is not listed for {here}/ in the table")
    for target, deps in LINK_RE.findall(text):
        for dep in re.findall(r"\b(cairn_[A-Za-z0-9_]+)\b", deps):
            dep_folder = library_folder.get(dep)
            if dep_folder is None:
                problems.append(f"{rel}: {target} links {dep}, a library the table does not list")
            elif dep_folder != here and dep_folder not in table[here][1]:
                problems.append(f"{rel}: {target} ({here}/) may not link {dep} ({dep_folder}/)")
    return problems


def self_test(root):
    """Copies the table and a few files, plants violations, expects them found."""
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "docs"))
        shutil.copy(os.path.join(root, "docs", "ARCHITECTURE.md"), os.path.join(tmp, "docs"))
        table = read_table(tmp)
        lower, upper = "kernels", "server"
        assert lower in table and upper in table and upper not in table[lower][1]
        os.makedirs(os.path.join(tmp, lower))
        with open(os.path.join(tmp, lower, "x.h"), "w") as f:
            f.write('#include "kernels/y.h"\n#include "absl/status/status.h"\n')
        with open(os.path.join(tmp, lower, "CMakeLists.txt"), "w") as f:
            f.write("add_library(cairn_kernels x.cc)\ntarget_link_libraries(cairn_kernels PUBLIC cairn_common)\n")
        if check(tmp):
            print("self-test: a clean tree was reported:", check(tmp))
            return 1
        with open(os.path.join(tmp, lower, "x.h"), "a") as f:
            f.write('#include "server/collection.h"\n')
        with open(os.path.join(tmp, lower, "CMakeLists.txt"), "a") as f:
            f.write("target_link_libraries(cairn_kernels PRIVATE cairn_server)\n")
        found = check(tmp)
        want = ["kernels/x.h:3", "may not link cairn_server"]
        missing = [w for w in want if not any(w in p for p in found)]
        if missing:
            print("self-test: planted violations not caught:", missing, found)
            return 1
        print("self-test: planted upward include and link caught")
        return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    if args.self_test:
        return self_test(root)
    problems = check(root)
    for p in problems:
        print(p)
    print(f"layers: {len(problems)} violation(s)" if problems else "layers: every include and link follows docs/ARCHITECTURE.md")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
