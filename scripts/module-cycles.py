#!/usr/bin/env python3
"""Import circles and upward imports among a crate's files: which files reach one another through `crate::` and
`super::` paths (in `use` lines and in code), as strongly connected components of the file graph.

    python3 scripts/module-cycles.py [adam-core/src]

Prints each circle (a set of files that all reach one another) and each import that runs from a
lower layer to a higher one (LAYERS below, for adam-core), and exits 1 if there is any, so that
the test command holds the crate to none. Test modules (`mod tests`) are
left out: a file's tests may use anything.
"""

import re
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else "adam-core/src")


def module_of(path: Path) -> tuple:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


files = {module_of(p): p for p in root.rglob("*.rs")}


def resolve(segments: list) -> tuple | None:
    """The longest known module that a path's leading segments name."""
    for n in range(len(segments), 0, -1):
        if tuple(segments[:n]) in files:
            return tuple(segments[:n])
    return None


PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+|::\{)")
GROUP = re.compile(r"\b(crate|super)::\{([^}]*)\}", re.S)

edges: dict = {m: set() for m in files}
for module, path in files.items():
    text = path.read_text()
    # Leave out the unit tests at the end of a file.
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests", text)
    if cut:
        text = text[: cut.start()]
    # Comments (doc links included) import nothing.
    text = re.sub(r"//[^\n]*", "", text)
    here = list(module) if path.name in ("mod.rs", "lib.rs") else list(module[:-1])

    def base(kind):
        return [] if kind == "crate" else here[:-1] if path.name == "mod.rs" else here

    targets = []
    for kind, rest in PATH.findall(text):
        if rest == "::{":
            continue
        targets.append(base(kind) + rest.strip(":").split("::"))
    for kind, inner in GROUP.findall(text):
        for item in inner.split(","):
            item = item.strip().split(" as ")[0]
            if item and item != "self":
                targets.append(base(kind) + item.split("::"))
    for t in targets:
        target = resolve(t)
        if target is not None and target != module and target != ():
            edges[module].add(target)

# adam-core's layers, lowest first: a file may import its own layer and those below. A file not
# named here is a leaf type (layer 0); a name is a module path, and `*` any one segment.
LAYERS = [
    ("storage: the unit of work, scopes, migrations", ["db"]),
    ("records: each concept's tables, the audit events", ["*/store", "*/*/store", "audit/events", "sessions/live_checks"]),
    ("rules over records: revocation, the key ring, the throttle, settings",
     ["sessions/revocation", "keys/keyring", "signin/throttle", "settings", "passkeys/party"]),
    ("the engine", ["engine"]),
    ("use cases: the engine's methods, by concept",
     ["signin", "second_factor", "sessions", "sessions/lifecycle", "keys", "users", "dealerships", "audit/log",
      "seed/run", "signin/new_password", "users/review", "second_factor/enrollment", "second_factor/second_step", "second_factor/codes",
      "mail", "invitations", "password_reset", "sessions/browser", "users/inactive", "oauth_clients", "oidc", "oidc/backchannel", "passkeys"]),
]


def layer_of(module: tuple) -> int:
    for n, (_, patterns) in enumerate(LAYERS, start=1):
        for pattern in patterns:
            parts = pattern.split("/")
            if len(parts) == len(module) and all(p in ("*", m) for p, m in zip(parts, module)):
                return n
    return 0


upward = [(a, b) for a in edges for b in edges[a] if layer_of(b) > layer_of(a)]
for a, b in sorted(upward):
    print(f"upward import: {files[a].relative_to(root)} (layer {layer_of(a)}) uses "
          f"{files[b].relative_to(root)} (layer {layer_of(b)})")

# Tarjan's strongly connected components.
index, low, stack, on_stack, components = {}, {}, [], set(), []
counter = [0]


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on_stack.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        component = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            component.append(w)
            if w == v:
                break
        components.append(component)


sys.setrecursionlimit(10000)
for v in sorted(edges):
    if v not in index:
        visit(v)

circles = [sorted(c) for c in components if len(c) > 1]
for c in circles:
    names = ", ".join(str(files[m].relative_to(root)) for m in c)
    print(f"circle of {len(c)} files: {names}")
print(f"{len(files)} files, {sum(len(e) for e in edges.values())} imports, "
      f"{sum(len(c) for c in circles)} files in {len(circles)} circle(s), "
      f"{len(upward)} upward import(s)")
sys.exit(1 if circles or upward else 0)
