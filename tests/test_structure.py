"""The shape of the package: imports run one way (no cycles, core never imports a task), tasks load
only when asked for."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "visionflow"
TASKS = "visionflow.tasks"


def _modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        parts = f.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports, read statically: every `import` and `from ...
    import`, those inside functions included; an imported name lands in the module that defines it
    (or its package)."""
    mods = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        here = m.split(".") if f.name == "__init__.py" else m.split(".")[:-1]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                r = resolve(t) if t.split(".")[0] == "visionflow" else None
                if r and r != m and not m.startswith(r + "."):
                    graph[m].add(r)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected sets of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

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
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            visit(v)
    return found


def task_package(module: str) -> str | None:
    """The task package a module belongs to (visionflow.tasks.<name>), or None for core modules."""
    parts = module.split(".")
    if len(parts) >= 3 and module.startswith(TASKS + ".") and (PACKAGE / "tasks" / parts[2]).is_dir():
        return ".".join(parts[:3])
    return None


def test_the_import_graph_is_read_from_every_kind_of_import():
    graph = import_graph()
    assert len(graph) > 100
    # a function-level import counts: runtime loads a task's layers inside _open_keras
    assert TASKS in graph["visionflow.runtime"]
    # relative and `from package import module` forms land in the module
    assert "visionflow.models.registry" in graph["visionflow.models"]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert found == [], "import cycles:\n" + "\n".join(", ".join(c) for c in found)


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_core_never_imports_a_task_package():
    graph = import_graph()
    wrong = sorted(f"{m} -> {t}" for m, targets in graph.items() if task_package(m) is None
                   for t in targets if task_package(t) is not None)
    assert wrong == [], "core modules importing a task package:\n" + "\n".join(wrong)


def test_task_packages_do_not_import_each_other_except_through_the_map():
    graph = import_graph()
    allowed = {("visionflow.tasks.video", "visionflow.tasks.classification"),  # clip models classify
               # style transfer is image to image: restoration's crops, tiling, export and service
               ("visionflow.tasks.style", "visionflow.tasks.restoration")}
    wrong = sorted(f"{m} -> {t}" for m, targets in graph.items() for t in targets
                   if task_package(m) and task_package(t) and task_package(m) != task_package(t)
                   and (task_package(m), task_package(t)) not in allowed)
    assert wrong == [], "task packages importing another task:\n" + "\n".join(wrong)


def test_every_task_name_maps_to_a_package_that_registers_it():
    from visionflow import tasks

    assert set(tasks.SUMMARY) == set(tasks.WHERE)  # --help describes every task
    for name in tasks.names():
        task = tasks.get(name)
        assert task.name == name
        assert task_package(type(task).__module__) == tasks.WHERE[name]


def test_import_visionflow_loads_no_task_and_listing_names_loads_none():
    code = ("import sys, visionflow, visionflow.config, visionflow.options, visionflow.cli\n"
            "from visionflow import tasks\n"
            "names = tasks.names()\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('visionflow.tasks.') and m != 'visionflow.tasks.base')\n"
            "print(len(names), loaded)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    from visionflow import tasks

    assert out.stdout.strip() == f"{len(tasks.WHERE)} []"


def test_a_tasks_own_network_is_found_by_name_in_a_fresh_process():
    code = ("from visionflow.models import MODELS\n"
            "print(MODELS.get('ffdnet_s').name, MODELS.get('r2plus1d_s').tasks, MODELS.get('sngan').tasks)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ffdnet_s ('video',) ('gan',)"


def test_an_unknown_task_names_the_choices():
    from visionflow import tasks
    from visionflow.errors import ConfigError

    with pytest.raises(ConfigError, match="Did you mean 'denoise'"):
        tasks.get("denoize")


def test_every_declared_part_resolves_to_what_its_role_calls():
    """Each task's parts (Task.parts) import and are what the core calls for that role: a function
    for finish, report, loader and exporter; a module with predict/evaluate for verbs; an object with
    load and mount for service."""
    from visionflow import tasks
    from visionflow.tasks.base import PARTS

    for name in tasks.names():
        task = tasks.get(name)
        assert set(task.parts) <= set(PARTS), name
        for role in task.parts:
            part = task.part(role)
            if role == "verbs":
                assert hasattr(part, "predict") or hasattr(part, "evaluate"), (name, role)
            elif role == "service":
                assert callable(part.load) and callable(part.mount), (name, role)
            else:
                assert callable(part), (name, role)
