"""Writing a run to a file: its distributions and similarities as CSV or JSON lines, and any
report, written whole or not at all and never over what goqa must keep.

Every file goqa writes for a user (``goqa export``, ``goqa report --html``) goes through
:func:`write_output`:

* it never replaces the results store (or its ``-wal``/``-shm``/``-journal`` companions, or
  answers kept beside it while it was busy) nor the dataset in use, even with ``force``;
* it never replaces an existing file without ``force``, nor a directory;
* it writes a temporary file beside the target and renames it into place when complete, so
  the target is there whole or (a full disk, say) not at all, with the mode a plain ``open``
  would give (the old file's when replacing).

Every refusal is an :class:`ExportError` with the message and the fix.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from core.dataset import Dataset
from core.errors import InvalidValueError
from core.runs import DatasetMatch, LoadedRun, load_run
from core.store import Store
from core.usecase_errors import UseCaseError

Format = Literal["csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl")


class ExportError(UseCaseError):
    """A file cannot be written (or must not be)."""

    title = "Cannot write the file"


@dataclass(frozen=True)
class Protected:
    """A file no output may replace: its path and what it is ("the results store")."""

    path: Path
    what: str


def protected_files(store: Store, dataset: Dataset | None = None) -> tuple[Protected, ...]:
    """The files no output may replace, even with ``force``: the store and its companions,
    the answers kept beside it while it was busy, and the dataset in use."""
    out = [
        Protected(Path(f"{store.path}{suffix}"), "the results store")
        for suffix in ("", "-wal", "-shm", "-journal")
    ]
    out += [Protected(p, "answers kept for the results store") for p in store.spill_files()]
    if dataset is not None and dataset.path:
        out.append(Protected(Path(dataset.path), "the dataset in use"))
    return tuple(out)


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def check_output(out: Path, protected: Sequence[Protected], force: bool = False) -> None:
    """Refuse ``out`` when it is a protected file, a directory, or (without ``force``) any
    existing file.

    Raises:
        ExportError: saying which, and what to do.
    """
    for p in protected:
        if _same_file(out, p.path):
            raise ExportError(
                f"Cannot write {str(out)!r}: it is {p.what} ({p.path}); goqa never writes over "
                "it, even with --force.",
                "Choose another file.",
            )
    if out.is_dir():
        raise ExportError(f"Cannot write {str(out)!r}: it is a directory.", "Give a file name.")
    # The atomic write renames a new file over the path: over a link, a pipe or a device that
    # would replace the link or the device node itself, so those are refused, even with --force.
    if out.is_symlink():
        raise ExportError(
            f"Cannot write {str(out)!r}: it is a symbolic link (to {os.readlink(out)}).",
            "Give the path of the file itself.",
        )
    if out.exists() and not out.is_file():
        raise ExportError(
            f"Cannot write {str(out)!r}: it is not a regular file (a pipe, a socket or a device).",
            "Give a file name; exports are written to files.",
        )
    if out.exists() and not force:
        raise ExportError(
            f"Cannot write {str(out)!r}: the file exists.",
            "Pass --force to replace it, or choose another file.",
        )


def _file_mode(out: Path) -> int:
    """The mode a plain ``open(out, "w")`` would give (the old one when replacing)."""
    try:
        return out.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _cannot_write(out: Path, exc: OSError) -> ExportError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ExportError(
            f"Cannot write {str(out)!r}: the disk is full. Nothing was written (no partial file).",
            "Free some space and try again.",
        )
    return ExportError(f"Cannot write {str(out)!r}: {exc.strerror or exc}.")


def write_whole(
    out: Path,
    write: Callable[[IO[str]], Any],
    *,
    newline: str | None = None,
    make_parents: bool = False,
) -> None:
    """Write ``out`` (UTF-8 text) through a temporary file beside it, renamed into place when
    complete: the file is there whole or not at all. No check: see :func:`write_output`.

    Args:
        write: writes the content to the open file.
        newline: as for :func:`open` (``""`` for CSV).
        make_parents: create missing directories first.

    Raises:
        ExportError: the file cannot be written (the disk is full, no such directory…).
    """
    try:
        if make_parents:
            out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as exc:
        raise _cannot_write(out, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _file_mode(out))
        os.replace(tmp, out)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _cannot_write(out, exc) from None
        raise


def write_output(
    out: Path,
    write: Callable[[IO[str]], Any],
    *,
    store: Store,
    dataset: Dataset | None = None,
    force: bool = False,
    newline: str | None = None,
    make_parents: bool = False,
) -> None:
    """Check ``out`` (:func:`check_output` against :func:`protected_files`), then write it
    whole (:func:`write_whole`).

    Raises:
        ExportError: refused, or it cannot be written.
    """
    check_output(out, protected_files(store, dataset), force)
    write_whole(out, write, newline=newline, make_parents=make_parents)


# --------------------------------------------------------------------------- a run's answers


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote.

    Attributes:
        path, format: the file and its format.
        n_answers: answers written (one line or ``model`` row each).
        n_similarities: (question, country) similarities written.
        suspect_left_out: suspect answers not written (0 with ``include_suspect``).
        match: how the run's answers matched the dataset (unmatched ones are not written).
    """

    path: Path
    format: Format
    n_answers: int
    n_similarities: int
    suspect_left_out: int
    match: DatasetMatch


def _jsonl_writer(run: LoadedRun, dataset: Dataset) -> Callable[[IO[str]], None]:
    pairs = run.scores.pairs

    def write(fh: IO[str]) -> None:
        for pos, answer in zip(run.answers.positions, run.answers.answers, strict=True):
            sel = pairs.position == pos
            row = {
                "question_id": dataset.ids[pos],
                "key": dataset.keys[pos],
                "probs": [float(x) for x in answer.probs],
                "off_option_mass": float(answer.off_option_mass),
                "estimator": answer.estimator,
                "suspect": answer.suspect,
                "similarity": {
                    dataset.countries[c]: float(s)
                    for c, s in zip(pairs.country[sel], pairs.similarity[sel], strict=True)
                },
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    return write


def _csv_writer(run: LoadedRun, dataset: Dataset) -> Callable[[IO[str]], None]:
    pairs = run.scores.pairs

    def write(fh: IO[str]) -> None:
        w = csv.writer(fh)
        kmax = dataset.kmax
        header = ["row_type", "question_id", "key", "country", "similarity", "off_option_mass"]
        w.writerow([*header, "estimator", *(f"p_{chr(65 + k)}" for k in range(kmax)), "suspect"])
        for pos, answer in zip(run.answers.positions, run.answers.answers, strict=True):
            probs = [f"{x:.10g}" for x in answer.probs] + [""] * (kmax - len(answer.probs))
            w.writerow(
                [
                    "model",
                    dataset.ids[pos],
                    dataset.keys[pos],
                    "",
                    "",
                    f"{answer.off_option_mass:.10g}",
                    answer.estimator,
                    *probs,
                    answer.suspect,
                ]
            )
        for pos, c, s in zip(pairs.position, pairs.country, pairs.similarity, strict=True):
            w.writerow(
                [
                    "similarity",
                    dataset.ids[pos],
                    dataset.keys[pos],
                    dataset.countries[c],
                    f"{s:.10g}",
                    "",
                    "",
                    *([""] * (kmax + 1)),
                ]
            )

    return write


def write_run(
    run: LoadedRun,
    dataset: Dataset,
    out: Path,
    fmt: Format = "jsonl",
    *,
    store: Store,
    force: bool = False,
) -> ExportResult:
    """Write a loaded run's answers and similarities to ``out``.

    JSON lines: one object per answer, ``{"question_id", "key", "probs", "off_option_mass",
    "estimator", "suspect", "similarity": {country: value}}``. CSV: a header, one ``model``
    row per answer (``p_A``… its probabilities), then one ``similarity`` row per (question,
    country) pair. Similarities are under the run's policy, as its scores are.

    Raises:
        ExportError: ``out`` is refused or cannot be written (see the module's doc).
        ValueError: an unknown format.
    """
    if fmt == "jsonl":
        write_output(
            out,
            _jsonl_writer(run, dataset),
            store=store,
            dataset=dataset,
            force=force,
            make_parents=True,
        )
    elif fmt == "csv":
        write_output(
            out,
            _csv_writer(run, dataset),
            store=store,
            dataset=dataset,
            force=force,
            newline="",
            make_parents=True,
        )
    else:
        raise InvalidValueError(f"Unknown export format {fmt!r}: use one of {', '.join(FORMATS)}.")
    return ExportResult(
        path=out,
        format=fmt,
        n_answers=int(run.answers.positions.shape[0]),
        n_similarities=int(run.scores.pairs.similarity.shape[0]),
        suspect_left_out=run.suspect_left_out,
        match=run.match,
    )


def export_run(
    store: Store,
    dataset: Dataset,
    name: str,
    out: Path,
    fmt: Format = "jsonl",
    *,
    force: bool = False,
    include_suspect: bool = False,
) -> ExportResult:
    """Write stored run ``name`` to ``out`` (see :func:`write_run`), suspect answers left out
    unless ``include_suspect``, answers matched to ``dataset`` by question key.

    The output is checked before the answers are read: nothing is loaded for a refused file.

    Raises:
        StoreError: no such run.
        ExportError: ``out`` is refused or cannot be written.
        NoMatchingAnswersError: none of the run's answers belongs to ``dataset``.
    """
    store.summary(name)  # an unknown run is the first thing to say
    check_output(out, protected_files(store, dataset), force)
    run = load_run(store, dataset, name, include_suspect=include_suspect)
    return write_run(run, dataset, out, fmt, store=store, force=force)
