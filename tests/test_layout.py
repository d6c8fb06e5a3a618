"""The layout's one rule: imports between the stages of transforms/ go only downwards, with no cycles."""
import ast
import os

from tests.conftest import REPO

# Lower first, in the walk of an object: storage, media, registry, store, matching, reports. A
# module may import from its own package or from a package of a lower rank; the floor (the error
# reasons, the Parquet-folder writer, the record passed between stages, the schemas) is below
# every stage that uses it.
RANKS = {
    "reasons": 0, "parquet_folder": 0,
    "storage": 1, "signals": 1,
    "records": 2, "schemas": 2,
    "media": 3,
    "registry": 4,
    "store": 5,
    "matching": 6,
    "reports": 7,
}


def module_imports():
    """{'transforms.media.images': {'transforms.signals.pdq', ...}, ...}: imports within transforms."""
    root = os.path.join(REPO, "transforms")
    graph = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, REPO)[:-3].split(os.sep)
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
            imported = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("transforms."):
                    imported.add(node.module)
                elif isinstance(node, ast.Import):
                    imported.update(a.name for a in node.names if a.name.startswith("transforms."))
            graph[module] = imported
    return graph


def stage(module: str) -> str:
    return module.split(".")[1]


def test_every_stage_has_a_rank_and_a_docstring():
    graph = module_imports()
    assert {stage(m) for m in graph if m != "transforms"} == set(RANKS)
    for package in RANKS:
        path = os.path.join(REPO, "transforms", package, "__init__.py")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                assert ast.get_docstring(ast.parse(f.read())), package


def test_imports_go_only_downwards():
    upward = [
        (module, target)
        for module, targets in module_imports().items() if module != "transforms"
        for target in targets
        if stage(target) != stage(module) and RANKS[stage(target)] >= RANKS[stage(module)]
    ]
    assert upward == []


def test_no_import_cycles():
    graph = module_imports()
    done, path = set(), []

    def visit(module):
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(module):] + [module]))
        if module in done:
            return
        path.append(module)
        for target in graph.get(module, ()):
            visit(target)
        path.pop()
        done.add(module)

    for module in graph:
        visit(module)


def test_the_sync_names_no_feed():
    """A feed is a module that fills registry.feed.Feed: sync.py loops over FEEDS and branches on
    no feed's name (its docstring's usage lines aside)."""
    path = os.path.join(REPO, "pipelines", "sync.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    docstring = ast.get_docstring(tree, clean=False)
    named = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and node.value != docstring and ("ncmec" in node.value or "stopncii" in node.value)]
    named += [node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id in ("ncmec", "stopncii")]
    assert named == []
