#!/usr/bin/env python3
"""Checks the module layering of the workspace's crates (run by scripts/test.sh).

Rust cannot say that a module imports only modules below it, so this script reads every
`crate::` path in each crate's sources and:

* in every crate, fails on an import cycle between top-level modules, except the pairs
  listed in ALLOWED_CYCLES;
* in sentinel-core, fails when a module imports one of a higher layer, or when one rule
  kind imports another (LAYERS below: each module imports only its own layer or lower).

Exit status 0 when the layering holds, 1 otherwise (with one line per violation).
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# sentinel-core's layers, lowest first. A module not listed is an error (place it).
LAYERS = {
    "clock": 0, "param": 0, "block": 0, "stat": 0, "system_metrics": 0,
    "metric_log": 0, "text": 0, "traffic": 0,
    "rules": 1, "shaping": 1,
    "pipeline": 2, "cluster": 2,
    "flow": 3, "isolation": 3, "hotspot": 3, "circuit_breaker": 3, "system": 3,
    "engine": 4,
    "sentinel": 5, "entry": 5, "snapshot": 5, "prometheus": 5,
    "lib": 6,
}
KINDS = {"flow", "isolation", "hotspot", "circuit_breaker", "system"}
# The only loop allowed: the `Sentinel` handle and its entry guard.
ALLOWED_CYCLES = {"sentinel-core": [{"sentinel", "entry"}]}
CRATES = ["sentinel-core", "sentinel-adapters", "sentinel-datasource", "sentinel-cluster"]

USE_RE = re.compile(r"\bcrate::(\w+)")
USE_GROUP_RE = re.compile(r"\buse\s+crate::\{([^;]*)\}", re.S)


def module_of(src: pathlib.Path, path: pathlib.Path) -> str:
    rel = path.relative_to(src)
    return rel.parts[0].removesuffix(".rs")


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def root_exports(src: pathlib.Path) -> dict:
    """Names the crate root re-exports (`pub use module::{A, B}`), mapped to their module,
    so that `crate::A` counts as an import of `module`."""
    lib = strip_comments((src / "lib.rs").read_text())
    names = {}
    for module, group in re.findall(r"pub use (\w+)::\{([^}]*)\}", lib):
        for name in re.findall(r"\w+", group):
            names[name] = module
    for module, name in re.findall(r"pub use (\w+)::(\w+);", lib):
        names[name] = module
    return names


def imports(src: pathlib.Path):
    """(from module, to module, file) for every crate-internal path."""
    exported = root_exports(src)
    for path in sorted(src.rglob("*.rs")):
        if path.name == "tests.rs":
            continue  # test modules may reach anywhere
        here = module_of(src, path)
        text = strip_comments(path.read_text())
        # Test modules may reach anywhere.
        text = re.split(r"#\[cfg\(test\)\]\s*mod tests\s*\{", text)[0]
        targets = set(USE_RE.findall(text))
        for group in USE_GROUP_RE.findall(text):
            targets.update(re.findall(r"(?:^|,)\s*(\w+)", group))
        for target in targets:
            target = exported.get(target, target)
            if target != here and target not in ("self", "super"):
                yield here, target, path


def cycles(edges):
    """Strongly connected components with more than one module."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    problems = []
    for crate in CRATES:
        src = ROOT / crate / "src"
        if not src.is_dir():
            continue
        found = list(imports(src))
        modules = {p.relative_to(src).parts[0].removesuffix(".rs") for p in src.rglob("*.rs")}
        edges = {(a, b) for a, b, _ in found if b in modules}
        for comp in cycles(edges):
            if comp not in ALLOWED_CYCLES.get(crate, []):
                problems.append(f"{crate}: import cycle between {sorted(comp)}")
        if crate != "sentinel-core":
            continue
        for module in sorted(modules):
            if module not in LAYERS:
                problems.append(f"{crate}: module `{module}` has no layer in scripts/layers.py")
        for a, b, path in sorted(found):
            if a not in LAYERS or b not in LAYERS:
                continue
            where = path.relative_to(ROOT)
            if LAYERS[b] > LAYERS[a]:
                problems.append(f"{where}: `{a}` (layer {LAYERS[a]}) imports `{b}` (layer {LAYERS[b]})")
            elif a in KINDS and b in KINDS:
                problems.append(f"{where}: rule kind `{a}` imports rule kind `{b}`")
    for p in sorted(set(problems)):
        print(p)
    if problems:
        print(f"layering: {len(set(problems))} problem(s)")
        return 1
    print("layering: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
