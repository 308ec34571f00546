"""The one config-file reader of QDL: a mapping from a YAML, TOML or JSON file.

``qdl train`` (:mod:`qdl.app.config`) and ``qdl diagnose`` (:mod:`qdl.diagnostics.report`)
both read their files here and then check the mapping against their own schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qdl.errors import QDLError, first_line


def read_config(path: str | Path) -> dict[str, Any]:
    """The nested dict in a ``.yaml``/``.yml``, ``.toml`` or ``.json`` file.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "run.toml")
    >>> _ = open(path, "w").write('[data]\\nname = "iris"\\n')
    >>> read_config(path)
    {'data': {'name': 'iris'}}
    """
    file = Path(path)
    if file.is_dir():
        raise QDLError(f"{path} is a directory, not a config file (.yaml, .toml or .json)")
    if not file.is_file():
        raise QDLError(f"no such config file: {path}")
    suffix = file.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml", ".json"):
        raise QDLError(f"{path}: config files must end in .yaml, .yml, .toml or .json")
    try:
        data = _parse(file.read_text(), suffix)
    except QDLError:
        raise
    except Exception as exc:  # each parser has its own error type; all mean "malformed"
        raise QDLError(f"{path}: not valid {suffix[1:].upper()}: "
                       f"{first_line(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise QDLError(f"{path}: expected a mapping with data/model/train sections, got a "
                       f"{type(data).__name__}")
    return data


def _parse(text: str, suffix: str) -> Any:
    if suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            try:
                import tomli as tomllib  # type: ignore[no-redef]
            except ImportError:
                raise QDLError('reading TOML needs tomli on Python 3.10: pip install '
                               '"qdl[app]"') from None
        return tomllib.loads(text)
    if suffix == ".json":
        return json.loads(text)
    try:
        import yaml
    except ImportError:
        raise QDLError('reading YAML needs PyYAML: pip install "qdl[app]" (or use a .json '
                       'file)') from None
    return yaml.safe_load(text)
