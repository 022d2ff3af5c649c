"""Content-addressed cache of the book's artifacts: corpora, trained models, tables, metrics.

An entry is a folder ``<root>/<step>/<key>/`` whose key hashes the step's **recipe** (its name and version),
its parameters, the keys of the entries it was built from, and the device type it ran on. A builder writes
into a private temporary folder; the folder gets a ``MANIFEST.json`` (size and SHA-256 of every file) and is
renamed into place in one step. An entry without a manifest, or whose files no longer match it, is corrupt:
it is moved aside and rebuilt, never read.

The rule for recipes. Each cached step is declared once, next to the code that builds it, as
``NAME = Recipe("step", version)``. The version says what the entry *means*; it is not a hash of source
text, so moving, renaming or documenting code re-keys nothing. A change that alters what a step computes
(its data, its loop, its metric) bumps the version. ``tests/test_recipes.py`` holds a golden fingerprint of
every recipe, taken from the chapters' smoke runs: a change of meaning fails it until the version and the
golden value are bumped together; a refactor that keeps the numbers passes.

The device type is part of every key of a trained model or of a measurement made with one: CUDA kernels do
not give the CPU's bits, so a GPU-trained model is never served to a CPU run (nor the other way round).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

MANIFEST = "MANIFEST.json"


def default_root() -> Path:
    return Path(os.environ.get("STICKY_CACHE") or Path.home() / ".cache" / "sticky")


@dataclass(frozen=True)
class Recipe:
    """A cached step and the version of what it computes (bump it when the meaning changes)."""

    step: str  # the store folder its entries live in
    version: int

    def __post_init__(self):
        known = RECIPES.setdefault(self.step, self)
        if known != self:
            raise ValueError(f"recipe {self.step!r} declared twice ({known.version} and {self.version})")


# Every recipe declared so far, by step; the golden tests check that each one has a fingerprint.
RECIPES: dict[str, Recipe] = {}


def make_key(recipe: Recipe, params: dict[str, Any], inputs: Iterable[str] = (), device: str | None = None) -> str:
    """The entry key: a hash of everything the artifact depends on."""
    payload = json.dumps(
        {"step": recipe.step, "recipe": recipe.version, "params": params, "inputs": sorted(inputs),
         **({"device": device} if device is not None else {})},
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


def ensure_writable(folder: Path, what: str, where: str) -> None:
    """Create ``folder`` and write a probe file into it, or raise a one-line error naming it and ``where`` it is
    set (the cache, the executed notebooks, the figures: each checked before any work)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-").close()
    except OSError as err:
        raise ValueError(f"{what} {str(folder)!r} is not writable ({err.strerror or err}); allowed: a writable "
                         f"folder, set with {where}") from None


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (a temporary path named by its pid is still in use)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _remove_debris(folder: Path) -> None:
    """The temporary folders (``.tmp-<key>-<pid>-*``) and discarded entries (``.corrupt-*``) of builds whose
    process is gone: a build killed with -9 never reaches its clean-up, and its debris stayed for ever. Folders
    of a live process, and ``.work-<key>`` checkpoints (they resume a killed build), are kept."""
    for path in folder.glob(".tmp-*"):
        parts = path.name.split("-")
        if len(parts) >= 4 and parts[2].isdigit() and not process_alive(int(parts[2])):
            shutil.rmtree(path, ignore_errors=True)
    for path in folder.glob(".corrupt-*"):
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _exclusive(path: Path):
    """Hold an exclusive lock on the file ``path`` (created for it, removed after: nothing is left behind). A
    process that locked the file after the holder removed it would hold a lock nobody else sees, so the lock
    counts only while ``path`` is still the file that was locked."""
    while True:
        f = open(path, "a")
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(f.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        f.close()
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        f.close()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


class Store:
    """A cache folder. ``Store()`` uses ``$STICKY_CACHE`` or ``~/.cache/sticky``."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_root()
        ensure_writable(self.root, "cache dir", "$STICKY_CACHE")

    def entry(self, step: str, key: str) -> Path:
        return self.root / step / key

    def is_complete(self, folder: Path) -> bool:
        """True when ``folder`` has a manifest and every file matches it in size and hash. A manifest of another
        shape (``null``, a number where a size belongs) or one that lists no file is corrupt too: every build
        writes at least one file."""
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
        except (OSError, ValueError):
            return False
        if not (isinstance(manifest, dict) and manifest and all(
                isinstance(m, dict) and isinstance(m.get("size"), int) and isinstance(m.get("sha256"), str)
                for m in manifest.values())):
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
        recipe: Recipe,
        params: dict[str, Any],
        build: Callable[[Path], None],
        *,
        inputs: Iterable[str] = (),
        device: str | None = None,
        resumable: bool = False,
    ) -> Path:
        """Return the folder of the entry for (recipe, params, inputs, device), building it if needed.

        ``device`` is the device type (``"cpu"``, ``"cuda"``…) for a step that trains or runs a model, and
        ``None`` for one whose result does not depend on where it runs (a generated corpus, a file conversion).

        ``build(folder)`` writes the artifact's files into ``folder``. If it raises, nothing is kept.
        With ``resumable``, it is called as ``build(folder, work)``: ``work`` is a folder of the same key
        that survives a failed or killed build (for training checkpoints) and is deleted once the entry
        is complete. Only the entry itself is ever read as a result.
        """
        key = make_key(recipe, params, inputs, device)
        final = self.entry(recipe.step, key)
        if final.exists() and self.is_complete(final):
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        # one build per entry at a time: a second process waits, then finds the entry complete (two builds of
        # one key used to share its .work folder, and the first to finish deleted it under the other)
        with _exclusive(final.parent / f".lock-{key}"):
            return self._build(recipe, key, final, build, resumable)

    def _build(self, recipe: Recipe, key: str, final: Path, build, resumable: bool) -> Path:
        if final.exists():
            if self.is_complete(final):
                return final
            self._discard(final)  # corrupt or partial: never trusted, rebuilt below
        _remove_debris(final.parent)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".tmp-{key}-{os.getpid()}-"))
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
            if not manifest:
                raise ValueError(f"recipe {recipe.step!r} wrote no file; allowed: a build that writes its results")
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

    def json(self, recipe: Recipe, params: dict[str, Any], compute: Callable[[], Any], **kw) -> Any:
        """Cache a JSON-able result (metrics, small tables)."""

        def build(folder: Path) -> None:
            (folder / "result.json").write_text(json.dumps(compute(), sort_keys=True))

        return json.loads((self.cached(recipe, params, build, **kw) / "result.json").read_text())
