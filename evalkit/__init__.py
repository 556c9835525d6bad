"""evalkit: evaluation harness for code models (HumanEval, MBPP, HumanEval-infilling)."""

__version__ = "0.1.0"


def _map_source_tree() -> None:
    """From a bare source checkout (no ``pip install``), import ``evalkit.tasks`` from ``tasks/`` and
    ``evalkit.paper`` from ``results/paper``, exactly as the installed package lays them out."""
    import importlib.util
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    root = here.parent
    mapping = {f"{__name__}.tasks": root / "tasks", f"{__name__}.paper": root / "results" / "paper"}
    mapping = {name: d for name, d in mapping.items()
               if not (here / name.rpartition(".")[2]).exists() and (d / "__init__.py").is_file()}
    if not mapping:
        return  # an installed package: setuptools put them inside evalkit/

    class _SourceTreeFinder:  # a MetaPathFinder consulted after the regular (and editable-install) finders
        @staticmethod
        def find_spec(fullname: str, path: object = None, target: object = None) -> object:
            d = mapping.get(fullname)
            if d is None:
                return None
            return importlib.util.spec_from_file_location(fullname, d / "__init__.py",
                                                          submodule_search_locations=[str(d)])

    sys.meta_path.append(_SourceTreeFinder())


_map_source_tree()
