"""Descriptor files named on the command line: files, or directories searched for *.yaml/*.yml."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from catalog.descriptors.errors import Problem


def collect(paths: list[str]) -> tuple[list[tuple[str, bytes, Path]], list[Problem]]:
    """(name, content, directory) of each descriptor file; files over CATALOG_MAX_BYTES are
    refused without being read whole."""
    files, problems = [], []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            # in a directory, descriptors are the YAML files that declare an apiVersion (an API's
            # definition next to them, read through $text, is not one)
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file() and _declares(p))
        elif path.is_file():
            found = [path]
        else:
            problems.append(Problem(given, 0, "", "No such file or directory."))
            continue
        for file in found:
            size = file.stat().st_size
            if size > settings.CATALOG_MAX_BYTES:
                problems.append(
                    Problem(
                        str(file), 0, "", f"The file is {size} bytes; at most {settings.CATALOG_MAX_BYTES} are read."
                    )
                )
                continue
            files.append((str(file), file.read_bytes(), file.parent))
    return files, problems


def _declares(path: Path) -> bool:
    if path.stat().st_size > settings.CATALOG_MAX_BYTES:
        return True  # refused below, by name
    return b"apiVersion:" in path.read_bytes()
