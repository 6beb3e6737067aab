"""The BM25 index of one index state on disk: one .npz file (no pickles) beside the registry.

The file carries a key saying which index state it describes, so a cold process loads it instead of building it,
and what the index was computed from (each posting's frequency, each row's length, rowid and identity), so that
the next state's index is that one's plus the rows an ingest added (`rag.index.bm25.merge`), not a rebuild.
Written atomically (a temporary file beside it, then os.replace); a damaged file reads as absent.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.index.bm25.ranking import Bm25Index

if TYPE_CHECKING:
    from rag.index.bm25.merge import Rows
    from rag.index.bm25.postings import Postings

log = logging.getLogger(__name__)
FORMAT = 2  # bump when the file layout changes: older files are then rebuilt, not read
_ARRAYS = {  # the arrays of a level as saved, and their types
    "offsets": np.dtype(np.int64),
    "rows": np.dtype(np.int32),
    "impacts": np.dtype(np.float64),
    "idf": np.dtype(np.float64),
    "first_df": np.dtype(np.int32),
    "label_offsets": np.dtype(np.int64),
    "groups": np.dtype(np.int32),
}
_RAW = {  # what a level was computed from, saved beside it for the next state's merge
    "freqs": np.dtype(np.float64),
    "first": np.dtype(np.bool_),
    "lengths": np.dtype(np.int64),
}


def save(
    path: Path,
    key: str,
    params: str,
    levels: dict[str, tuple[Bm25Index, Postings, Rows]],
    mode: int = 0o644,
) -> None:
    """Write `levels` (each with the postings and rows it was built from, for the next state's merge) to `path`
    atomically (a temporary file beside it, then os.replace), with permissions `mode`. `params` names what
    postings depend on besides a row's content (tokenizer, column weights)."""
    arrays: dict[str, np.ndarray] = {"meta": _text(json.dumps({"format": FORMAT, "key": key, "params": params}))}
    for name, (index, postings, rows) in levels.items():
        for array in _ARRAYS:
            arrays[f"{name}.{array}"] = getattr(index, array)
        arrays[f"{name}.terms"] = _text("\n".join(index.terms))  # FTS5 tokens never hold a newline
        arrays[f"{name}.labels"] = np.frombuffer(index.labels, dtype=np.uint8)
        arrays[f"{name}.group_names"] = _text(json.dumps(index.group_names))
        for array in _RAW:
            arrays[f"{name}.{array}"] = getattr(postings, array)
        arrays[f"{name}.rowids"] = rows.rowids
        arrays[f"{name}.idents"] = _text(json.dumps(rows.idents))
    _sweep(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(out, allow_pickle=False, **arrays)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)  # mkstemp makes it private; readable by whoever may read the index
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


ABANDONED = 600.0  # seconds after which a temporary file beside the index is a killed save's, not one in progress


def _sweep(path: Path) -> None:
    """Delete the temporary files a killed save left beside `path` (those not written to for ABANDONED seconds:
    another process may be saving right now)."""
    now = time.time()
    for tmp in path.parent.glob(path.name + ".*.tmp"):
        try:
            if now - tmp.stat().st_mtime > ABANDONED:
                tmp.unlink()
                log.info("deleted %s, left by a save that did not finish", tmp)
        except OSError:  # gone meanwhile, or not ours to delete
            pass


def load(path: Path, key: str, names: Sequence[str]) -> dict[str, Bm25Index] | None:
    """The levels saved at `path` for `key`; None when the file is absent, for another key, or damaged."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(_untext(data["meta"]))
            if meta.get("format") != FORMAT or meta.get("key") != key:
                log.info("BM25 cache %s is for another index state: updating it", path)
                return None
            levels = {name: _level(data, name) for name in names}
    except FileNotFoundError:
        return None
    except Exception as exc:  # a cache: whatever is wrong with the file (truncated, not a zip, bad arrays), rebuild
        log.warning("BM25 cache %s is unreadable (%s: %s): rebuilding it", path, type(exc).__name__, exc)
        return None
    return levels


def describes(path: Path, key: str) -> bool:
    """True when the file at `path` says it holds the levels of `key` (its header read, not its arrays)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(_untext(data["meta"]))
    except Exception:  # absent, truncated, not a zip: it does not
        return False
    return bool(meta.get("format") == FORMAT and meta.get("key") == key)


def load_sources(path: Path, params: str, names: Sequence[str]) -> dict[str, tuple[Postings, Rows]] | None:
    """The postings and rows the levels saved at `path` were built from, whatever index state that was, when
    `params` are the same; None when the file is absent, of other params, or damaged (then logged)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(_untext(data["meta"]))
            if meta.get("format") != FORMAT or meta.get("params") != params:
                return None
            return {name: _sources(data, name) for name in names}
    except FileNotFoundError:
        return None
    except Exception as exc:  # a cache: whatever is wrong with the file, the levels are built from SQLite
        log.warning("BM25 cache %s is unreadable (%s: %s): building from the index", path, type(exc).__name__, exc)
        return None


def _sources(data: np.lib.npyio.NpzFile, name: str) -> tuple[Postings, Rows]:
    """A level's postings and rows read back, their shapes checked (a damaged file raises ValueError)."""
    from rag.index.bm25.merge import Rows
    from rag.index.bm25.postings import Postings

    index = _level(data, name)
    raw = {array: data[f"{name}.{array}"] for array in _RAW}
    rowids = data[f"{name}.rowids"]
    idents = json.loads(_untext(data[f"{name}.idents"]))
    n_rows, n_post = index.size, len(index.rows)
    if (
        any(raw[array].dtype != dtype or raw[array].ndim != 1 for array, dtype in _RAW.items())
        or rowids.dtype != np.int64
        or (len(raw["freqs"]), len(raw["first"]), len(raw["lengths"]), len(rowids)) != (n_post, n_post, n_rows, n_rows)
        or not (isinstance(idents, list) and len(idents) == n_rows and all(isinstance(i, str) for i in idents))
        or bool(np.any(np.diff(rowids) <= 0))
    ):
        raise ValueError(f"inconsistent source arrays in level {name!r}")
    bounds = index.label_offsets.tolist()
    labels = [index.labels[a:b].decode("utf-8") for a, b in pairwise(bounds)]
    first_df = index.first_df.astype(np.int64)
    postings = Postings(
        list(index.terms), index.offsets, index.rows, raw["freqs"], raw["first"], first_df, raw["lengths"]
    )
    rows = Rows(rowids, labels, [index.group_names[g] for g in index.groups.tolist()], idents)
    return postings, rows


def _level(data: np.lib.npyio.NpzFile, name: str) -> Bm25Index:
    """One level read back, its shapes checked (a damaged file raises ValueError)."""
    got = {array: data[f"{name}.{array}"] for array in _ARRAYS}
    if any(got[array].dtype != dtype or got[array].ndim != 1 for array, dtype in _ARRAYS.items()):
        raise ValueError(f"unexpected array types in level {name!r}")
    terms = _untext(data[f"{name}.terms"])
    term_list = terms.split("\n") if terms else []
    labels = data[f"{name}.labels"].tobytes()
    index = Bm25Index(
        terms={t: i for i, t in enumerate(term_list)},
        offsets=got["offsets"],
        rows=got["rows"],
        impacts=got["impacts"],
        idf=got["idf"],
        first_df=got["first_df"],
        labels=labels,
        label_offsets=got["label_offsets"],
        groups=got["groups"],
        group_names=tuple(json.loads(_untext(data[f"{name}.group_names"]))),
    )
    n_terms, n_rows, n_post = len(term_list), len(index.groups), len(index.rows)
    sound = (
        len(index.offsets) == n_terms + 1
        and len(index.idf) == n_terms == len(index.first_df)
        and len(index.impacts) == n_post
        and int(index.offsets[0]) == 0
        and int(index.offsets[-1]) == n_post
        and bool(np.all(np.diff(index.offsets) >= 0))
        and len(index.label_offsets) == n_rows + 1
        and int(index.label_offsets[-1]) == len(labels)
        and (n_post == 0 or (int(index.rows.min()) >= 0 and int(index.rows.max()) < n_rows))
        and (n_rows == 0 or int(index.groups.max()) < len(index.group_names))
    )
    if not sound:
        raise ValueError(f"inconsistent arrays in level {name!r}")
    return index


def _text(s: str) -> np.ndarray:
    return np.frombuffer(s.encode("utf-8"), dtype=np.uint8)


def _untext(a: np.ndarray) -> str:
    return a.tobytes().decode("utf-8")
