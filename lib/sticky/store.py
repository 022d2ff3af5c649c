"""Content-addressed cache of the book's artifacts: corpora, trained models, tables, metrics.

An entry is a folder ``<root>/<step>/<key>/`` whose key hashes the step's name, its parameters, the keys of
the entries it was built from, and the source of the code that built it, so a changed training loop never
serves a stale model. A builder writes into a private temporary folder; the folder gets a ``MANIFEST.json``
(size and SHA-256 of every file) and is renamed into place in one step. An entry without a manifest, or
whose files no longer match it, is corrupt: it is moved aside and rebuilt, never read.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable

MANIFEST = "MANIFEST.json"


def default_root() -> Path:
    return Path(os.environ.get("STICKY_CACHE") or Path.home() / ".cache" / "sticky")


def code_version(*code: ModuleType | type | Callable) -> str:
    """Hash of the source of ``code`` (modules, classes or functions): the part of a key that says which code
    made an entry. Name the narrowest code an entry depends on, so unrelated edits keep the cache."""
    h = hashlib.sha256()
    for obj in sorted(code, key=lambda o: f"{o.__module__ if not inspect.ismodule(o) else ''}.{o.__name__}"):
        h.update(obj.__name__.encode())
        h.update(inspect.getsource(obj).encode())
    return h.hexdigest()[:16]


def make_key(step: str, params: dict[str, Any], inputs: Iterable[str] = (), code: str = "") -> str:
    """The entry key: a hash of everything the artifact depends on."""
    payload = json.dumps(
        {"step": step, "params": params, "inputs": sorted(inputs), "code": code},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


class Store:
    """A cache folder. ``Store()`` uses ``$STICKY_CACHE`` or ``~/.cache/sticky``."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_root()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-")
            probe.close()
        except OSError as err:
            raise ValueError(
                f"cache dir {str(self.root)!r} is not writable ({err.strerror}); "
                "allowed: a writable folder, set with $STICKY_CACHE"
            ) from None

    def entry(self, step: str, key: str) -> Path:
        return self.root / step / key

    def is_complete(self, folder: Path) -> bool:
        """True when ``folder`` has a manifest and every file matches it in size and hash."""
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
        except (OSError, ValueError):
            return False
        present = {str(p.relative_to(folder)) for p in _files(folder)}
        if present != set(manifest):
            return False
        for rel, meta in manifest.items():
            path = folder / rel
            if path.stat().st_size != meta["size"] or _sha256(path) != meta["sha256"]:
                return False
        return True

    def cached(
        self,
        step: str,
        params: dict[str, Any],
        build: Callable[[Path], None],
        *,
        inputs: Iterable[str] = (),
        code: str = "",
        resumable: bool = False,
    ) -> Path:
        """Return the folder of the entry for (step, params, inputs, code), building it if needed.

        ``build(folder)`` writes the artifact's files into ``folder``. If it raises, nothing is kept.
        With ``resumable``, it is called as ``build(folder, work)``: ``work`` is a folder of the same key
        that survives a failed or killed build (for training checkpoints) and is deleted once the entry
        is complete. Only the entry itself is ever read as a result.
        """
        key = make_key(step, params, inputs, code)
        final = self.entry(step, key)
        if final.exists():
            if self.is_complete(final):
                return final
            self._discard(final)  # corrupt or partial: never trusted, rebuilt below
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".tmp-{key}-"))
        work = final.with_name(f".work-{key}")
        try:
            if resumable:
                work.mkdir(exist_ok=True)
                build(tmp, work)
            else:
                build(tmp)
            manifest = {
                str(p.relative_to(tmp)): {"size": p.stat().st_size, "sha256": _sha256(p)}
                for p in _files(tmp)
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
            try:
                os.rename(tmp, final)
            except OSError:  # another process finished the same entry first: keep theirs
                if not self.is_complete(final):
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(work, ignore_errors=True)
        return final

    def _discard(self, folder: Path) -> None:
        trash = folder.with_name(f".corrupt-{folder.name}-{uuid.uuid4().hex[:8]}")
        os.rename(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def json(self, step: str, params: dict[str, Any], compute: Callable[[], Any], **kw) -> Any:
        """Cache a JSON-able result (metrics, small tables)."""

        def build(folder: Path) -> None:
            (folder / "result.json").write_text(json.dumps(compute(), sort_keys=True))

        return json.loads((self.cached(step, params, build, **kw) / "result.json").read_text())
