"""The run list of the results view: every stored run, newest first, one marked as A.

:class:`RunTable` is a :class:`~textual.widgets.DataTable` that owns the list: it reads the
runs from a store it is given (a thread worker calls :meth:`core.store.Store.runs`), draws
them with their failed and suspect counts, keeps the cursor on the same run when they are
read again, marks the reference run A of a comparison and deletes a run (a thread worker
calls :meth:`core.store.Store.delete_run`). What happens next is the screen's business: the
table posts :class:`RunTable.RunsListed`, :class:`RunTable.RunHighlighted`,
:class:`RunTable.RunChosen`, :class:`RunTable.RunDeleted` and :class:`RunTable.DeleteFailed`.

Run names and conditions are the user's text: they are drawn as plain text, never markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable
from textual.worker import get_current_worker

from core.store import RunSummary, Store


def run_status(summary: RunSummary, n_suspect: int) -> str:
    """A run's state in the run list: ``60/60 ✓``, ``52/60 · 3 failed · 2 suspect``.

    ``ok/planned``, a tick when finished, then the failed answers (asked again when the run
    resumes) and the suspect ones (left out of scores), when there are any.
    """
    text = f"{summary.n_ok}/{summary.planned}" + (" ✓" if summary.finished else "")
    if summary.n_failed:
        text += f" · {summary.n_failed} failed"
    if n_suspect:
        text += f" · {n_suspect} suspect"
    return text


def created_label(text: str) -> str:
    """When a run was made, in local time to the minute (the stored text if unparsable)."""
    try:
        return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return text


class RunTable(DataTable[Any]):
    """The stored runs, newest first: mark, name, condition, backend, counts, estimator
    (``manifest.estimator``), creation time."""

    marked: reactive[str | None] = reactive(None, init=False)
    """Name of the run marked as the comparison's reference A (its row shows ``A``)."""

    @dataclass
    class RunsListed(Message):
        """The runs were read from the store (or could not be) and are drawn."""

        runs: list[RunSummary]
        """The runs, oldest first, as :meth:`core.store.Store.runs` gives them."""
        highlighted: str | None
        """The run under the cursor now (None with no runs)."""
        changed: bool
        """The highlighted run is new to the list, or its answered or failed counts moved."""
        error: BaseException | None = None
        """Why the runs could not be read (the list is then empty)."""

    @dataclass
    class RunHighlighted(Message):
        """The user moved the cursor onto run ``name``."""

        name: str

    @dataclass
    class RunChosen(Message):
        """Enter was pressed on run ``name``."""

        name: str

    @dataclass
    class RunDeleted(Message):
        """Run ``name`` and its answers were deleted from the store."""

        name: str

    @dataclass
    class DeleteFailed(Message):
        """A run could not be deleted (it is still listed)."""

        name: str
        error: BaseException

    def __init__(
        self,
        *,
        created_format: Callable[[str], str] | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Create an empty list.

        Args:
            created_format: shows a run's ISO creation time (default: :func:`created_label`,
                local time to the minute); tests pin it.
        """
        super().__init__(cursor_type="row", zebra_stripes=True, name=name, id=id, classes=classes)
        self._created_format = created_format
        self._runs: list[RunSummary] = []

    def on_mount(self) -> None:
        self.add_column("A", key="mark", width=1)
        self.add_column("Run", key="name")
        self.add_column("Condition", key="condition")
        self.add_column("Backend / model", key="backend")
        self.add_column("ok/planned", key="counts")
        self.add_column("Estimator", key="estimator")
        self.add_column("Created", key="created")

    # ------------------------------------------------------------------ reading

    @property
    def runs(self) -> list[RunSummary]:
        """The runs listed, oldest first."""
        return list(self._runs)

    @property
    def highlighted_name(self) -> str | None:
        """The run under the cursor (None with no runs)."""
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    def summary(self, name: str | None) -> RunSummary | None:
        """The listed run called ``name`` (None if there is none)."""
        return next((r for r in self._runs if r.manifest.name == name), None)

    def read(self, store: Store) -> None:
        """Read the runs from ``store`` in a thread; :class:`RunsListed` follows."""
        self._read_worker(store)

    @work(thread=True, exclusive=True, group="results-runs", exit_on_error=False)
    def _read_worker(self, store: Store) -> None:
        # In a thread: a store busy with another process's write waits before it gives up.
        error: BaseException | None = None
        try:
            found = store.runs()
        except Exception as exc:
            found, error = [], exc
        if not get_current_worker().is_cancelled:
            self.post_message(self._RunsRead(found, error))

    @dataclass
    class _RunsRead(Message):
        runs: list[RunSummary]
        error: BaseException | None

    @on(_RunsRead)
    def _runs_read(self, event: _RunsRead) -> None:
        event.stop()
        self.show_runs(event.runs, event.error)

    def show_runs(self, found: Sequence[RunSummary], error: BaseException | None = None) -> None:
        """Draw ``found`` (oldest first), the cursor kept on the same run if it is still
        there (else on the newest), then post :class:`RunsListed`."""
        current = self.highlighted_name
        before = {r.manifest.name: (r.n_ok, r.n_failed) for r in self._runs}
        self._runs = list(found)
        names = [r.manifest.name for r in reversed(self._runs)]  # newest first
        row = names.index(current) if current in names else 0
        with self.prevent(DataTable.RowHighlighted):
            self.clear()
            for r in reversed(self._runs):
                m = r.manifest
                # Text cells: a run name (or a condition) is shown as written, not as markup.
                self.add_row(
                    "A" if m.name == self.marked else "",
                    Text(m.name, no_wrap=True, overflow="ellipsis"),
                    Text(m.condition, no_wrap=True, overflow="ellipsis"),
                    Text(f"{m.backend} ({m.model})" if m.model else m.backend),
                    Text(run_status(r, r.n_suspect)),
                    Text(m.estimator, no_wrap=True),
                    (self._created_format or created_label)(m.created_at),
                    key=m.name,
                )
            if names:
                self.move_cursor(row=row)
        highlighted = names[row] if names else None
        summary = self.summary(highlighted)
        changed = summary is not None and before.get(summary.manifest.name) != (
            summary.n_ok,
            summary.n_failed,
        )
        self.post_message(self.RunsListed(self.runs, highlighted, changed, error))

    def move_to(self, name: str) -> None:
        """Put the cursor on run ``name`` without posting :class:`RunHighlighted`."""
        names = [r.manifest.name for r in reversed(self._runs)]
        if name in names:
            with self.prevent(DataTable.RowHighlighted):
                self.move_cursor(row=names.index(name))

    # ------------------------------------------------------------------ marking

    def toggle_mark(self) -> str | None:
        """Mark the highlighted run as A, or unmark it if it is A; the run marked now."""
        name = self.highlighted_name
        if name is not None:
            self.marked = None if self.marked == name else name
        return self.marked

    def watch_marked(self, marked: str | None) -> None:
        for r in self._runs:
            self.update_cell(r.manifest.name, "mark", "A" if r.manifest.name == marked else "")

    # ------------------------------------------------------------------ deleting

    def delete(self, store: Store, name: str) -> None:
        """Delete run ``name`` and its answers from ``store`` in a thread; :class:`RunDeleted`
        follows, or :class:`DeleteFailed`."""
        self._delete_worker(store, name)

    @work(thread=True, exclusive=True, group="results-delete", exit_on_error=False)
    def _delete_worker(self, store: Store, name: str) -> None:
        # In a thread: a store busy with another process's write waits before it gives up.
        try:
            store.delete_run(name)
        except Exception as exc:
            self.post_message(self.DeleteFailed(name, exc))
            return
        self.post_message(self.RunDeleted(name))

    @on(RunDeleted)
    def _deleted(self, event: RunDeleted) -> None:
        if self.marked == event.name:
            self.marked = None

    # ------------------------------------------------------------------ the user's moves

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is not self:
            return
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.RunHighlighted(str(event.row_key.value)))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table is not self:
            return
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.RunChosen(str(event.row_key.value)))
