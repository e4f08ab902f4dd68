"""The workbench panel: pick, run, watch, decide, export, in one ipywidgets view.

``Workbench()`` in a notebook shows the panel. Sweeps and searches run in a background
thread (see :mod:`workbench.ui.jobs`), so the kernel stays responsive and **Cancel** works
while a trial runs; each finished trial re-draws the plots and grows the table.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import ipywidgets as W

from workbench import __version__
from workbench.analysis import OBJECTIVES
from workbench.analysis.compare import Comparison, load_comparison
from workbench.config import SweepConfig, TrialConfig, format_bytes
from workbench.engine.executors import make_executor
from workbench.engine.search import STRATEGIES
from workbench.engine.sweep_sizes import plan_sizes
from workbench.errors import ConfigError, WorkbenchError
from workbench.plan import expand
from workbench.results import ResultStore, environment, load_results
from workbench.ui.compare_view import CompareView
from workbench.ui.defaults import AUTO_SIZES_SKIP
from workbench.ui.form import SweepForm
from workbench.ui.jobs import JobRunner, set_status
from workbench.ui.results_view import ResultsView
from workbench.ui.runs import search_body, sweep_body


def machine_line(env: dict[str, Any] | None = None) -> str:
    """CPU, RAM and GPU of this machine, in one line ("GPU: not available" without one)."""
    env = env if env is not None else environment()
    gpus = env.get("gpus") or []
    if gpus:
        gpu = ", ".join(f"{g['name']} ({format_bytes(g.get('memory_total_bytes'))})" for g in gpus)
    else:
        gpu = "not available"
    return (f"CPU: {env.get('cpu_model')} ({env.get('cpu_count')} cores), "
            f"RAM {format_bytes(env.get('ram_total_bytes'))} · GPU: {gpu}")


class Workbench:
    """The panel. ``settings`` are named like the CLI's options, with typed or command-line
    values, e.g. ``Workbench(model="mobilenet_v2", batch_sizes=(1, 8, 32), host_budget="2GB")``."""

    def __init__(self, **settings: Any) -> None:
        self.env = environment()
        self.form = SweepForm(**settings)
        self.results = ResultsView()
        self.compare = CompareView()
        self.header = W.HTML(f"<b>Memory trade-off workbench</b> {__version__} · "
                             f"{html.escape(machine_line(self.env))}")
        self.header.add_class("wb-header")
        self.objective = W.Dropdown(options=list(OBJECTIVES), value="throughput", description="optimise for",
                                    style={"description_width": "110px"})
        self.margin = W.BoundedFloatText(value=0.1, min=0.0, max=0.9, step=0.05, description="safety margin",
                                         style={"description_width": "110px"}, layout=W.Layout(width="220px"))
        self.max_batch = W.BoundedIntText(value=4096, min=1, max=2**20, description="search up to",
                                          style={"description_width": "110px"}, layout=W.Layout(width="220px"))
        self.strategy = W.Dropdown(options=list(STRATEGIES), value="model", description="search by",
                                   style={"description_width": "80px"}, layout=W.Layout(width="200px"))
        self.title = W.Text(placeholder="report title (optional)", layout=W.Layout(width="260px"))
        self.run_button = W.Button(description="Run sweep", button_style="primary", icon="play")
        self.search_button = W.Button(description="Search", tooltip="largest batch size under the budget", icon="search")
        self.cancel_button = W.Button(description="Cancel", button_style="warning", icon="stop", disabled=True)
        self.open_button = W.Button(description="Open results", tooltip="show the results folder's plots and table",
                                    icon="folder-open")
        self.compare_with, self.compare_message = self.compare.folders, self.compare.message
        self.report_button = W.Button(description="Export HTML report", icon="file-code-o", disabled=True)
        self.csv_button = W.Button(description="Export CSV", icon="table", disabled=True)
        self.script_button = W.Button(description="Export job script", icon="terminal", disabled=True,
                                      tooltip="a standalone script that runs the recommended setting on all the data")
        self.progress = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="420px"))
        self.status = W.HTML()
        self.details = W.HTML()
        self.plan = W.HTML()
        self.links = W.HTML()
        for name, widget in (("run", self.run_button), ("search", self.search_button),
                             ("cancel", self.cancel_button), ("open", self.open_button),
                             ("report", self.report_button), ("csv", self.csv_button), ("script", self.script_button),
                             ("status", self.status), ("progress", self.progress), ("links", self.links),
                             ("objective", self.objective), ("margin", self.margin), ("max-batch", self.max_batch),
                             ("strategy", self.strategy), ("title", self.title), ("plan", self.plan)):
            widget.add_class(f"wb-{name}")
        self.jobs = JobRunner(self.status, self.details, self._set_busy)
        self._sweep: SweepConfig | None = None
        self._errors: dict[str, str] = {}

        self.run_button.on_click(lambda _b: self._guard(self.run))
        self.search_button.on_click(lambda _b: self._guard(self.search))
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.open_button.on_click(lambda _b: self._guard(self.open))
        self.report_button.on_click(lambda _b: self._guard(self.export_report))
        self.csv_button.on_click(lambda _b: self._guard(self.export_csv))
        self.script_button.on_click(lambda _b: self._guard(self.export_script))
        self.form.observe(self._on_change)
        for widget in (self.objective, self.margin):
            widget.observe(lambda _c: self._redecide(), "value")
        self.form.host_budget.observe(lambda _c: self._redecide(), "value")
        self.form.target_images.observe(lambda _c: self._redecide(), "value")
        self.form.gpu_budget.observe(lambda _c: self._redecide(), "value")
        self.widget = self._layout()
        self._on_change()

    def _layout(self) -> W.VBox:
        sections = self.form.sections()
        timing = W.Accordion(children=[sections.pop("Timing")], titles=("Timing and retries",))
        timing.selected_index = None
        blocks: list[W.Widget] = [self.header]
        for title, box in sections.items():
            blocks += [W.HTML(f"<b>{title}</b>"), box]
        blocks += [timing, W.HTML("<b>Decide</b>"), W.HBox([self.objective, self.margin, self.max_batch, self.strategy]),
                   W.HBox([self.run_button, self.search_button, self.cancel_button, self.open_button]),
                   W.HBox([self.compare_with, self.compare_message]),
                   self.plan, self.form.messages["general"], W.HBox([self.progress]), self.status, self.details,
                   self.results.widget, self.compare.widget, W.HBox([self.report_button, self.csv_button, self.script_button, self.title]), self.links]
        box = W.VBox(blocks)
        box.add_class("wb-panel")
        return box

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- state of the controls ---------------------------------------------------------------

    def _on_change(self) -> None:
        self._sweep, self._errors = self.form.validate()
        self.form.show_errors(self._errors, self._notes())
        if self._sweep is not None:
            s = self._sweep
            plan = plan_sizes(s)  # once per change: making it reads the data (a folder is scanned)
            n = len(expand(s, plan))
            on = f"{len(s.backends)} backends × " if len(s.backends) > 1 else ""
            added = plan.announce(AUTO_SIZES_SKIP)  # the sizes the sweep adds to measure the N term
            self.plan.value = (f"<i>{n} trial{'s' * (n != 1)}: {on}{len(s.pipelines)} pipeline(s) × "
                               f"{len(s.precisions)} precision(s) × batch sizes {', '.join(map(str, s.batch_sizes))}"
                               + (f"; {html.escape(added)}" if added else "") + "</i>")
        else:
            self.plan.value = ""
        self._set_busy(self.jobs.busy)

    def _notes(self) -> dict[str, str]:
        if self.form.gpu_budget.value.strip() and not self.env.get("gpus"):
            return {"gpu_budget": "no GPU here: trials run on the CPU and have no GPU figures to hold to this "
                                  "budget (it applies on a GPU machine)"}
        return {}

    def _set_busy(self, busy: bool) -> None:
        valid = self._sweep is not None
        self.run_button.disabled = busy or not valid
        self.search_button.disabled = busy or not valid
        self.cancel_button.disabled = not busy
        self.open_button.disabled = busy
        comparing = self.compare.comparison is not None
        has_results = comparing or (self.results.df is not None and not self.results.df.empty)
        self.report_button.disabled = busy or not has_results
        self.csv_button.disabled = busy or not has_results
        self.script_button.disabled = busy or not has_results or comparing  # a recommendation is one machine's

    def _guard(self, action: Any) -> None:
        """Run a button's action; a user's mistake becomes a message, never a traceback."""
        try:
            action()
        except WorkbenchError as exc:
            set_status(self.status, f"error: {exc}", error=True)

    def _decide_args(self) -> dict[str, Any]:
        host, gpu = self.form.budgets()
        return {"host_budget_bytes": host, "gpu_budget_bytes": gpu, "target_images": self.form.target(),
                "objective": self.objective.value, "margin": float(self.margin.value)}

    def _redecide(self) -> None:
        try:
            self.results.update_decision(**self._decide_args())
        except ConfigError as exc:
            self.results.recommendation.value = f"<span style='color:#b00020'>⚠ {html.escape(str(exc))}</span>"

    def show_results(self, out_dir: str | os.PathLike[str]) -> None:
        """Load a results folder and show its plots, table and recommendation."""
        self.results.show(load_results(out_dir), **self._decide_args())
        self.compare.hide()
        self.results.widget.layout.display = None
        self._set_busy(self.jobs.busy)

    def show_comparison(self, cmp: Comparison) -> None:
        """Show several results folders side by side in place of one folder's view."""
        self.compare.show(cmp)
        self.results.widget.layout.display = "none"
        self._set_busy(self.jobs.busy)

    @property
    def comparison(self) -> Comparison | None:
        """The comparison shown, or None while one folder is."""
        return self.compare.comparison

    # -- actions -----------------------------------------------------------------------------

    def config(self) -> SweepConfig:
        """The sweep the controls describe (a ConfigError naming the first problem otherwise)."""
        sweep, errors = self.form.validate()
        if sweep is None:
            raise ConfigError(next(iter(errors.values())))
        return sweep

    def search_template(self) -> TrialConfig:
        """The setting **Search** probes, at batch 1: the sweep's model, data, budget and timing
        with the first pipeline and precision ticked. Probes skip the drift phase (it says
        nothing about memory), as the CLI's search does by default."""
        sweep = self.config()
        return TrialConfig(model=sweep.model, data=sweep.data, pipeline=sweep.pipelines[0],
                           precision=sweep.precisions[0], batch_size=1, budget=sweep.budget,
                           timing=replace(sweep.timing, drift_samples=0))

    def run(self) -> None:
        """Start the sweep in the background (what **Run sweep** does)."""
        sweep, out = self.config(), self.form.out.value.strip()
        executor = make_executor(*self.form.where())  # a bad choice or address: one line, before any trial
        self.jobs.start("sweep", sweep_body(self, sweep, out, retry_failed=bool(self.form.retry_failed.value),
                                            executor=executor))

    def search(self) -> None:
        """Find the largest batch under the budget in the background (what **Search** does)."""
        template = self.search_template()  # every control valid, or a message next to the one at fault
        budget = template.budget
        if budget.host_bytes is None and budget.gpu_bytes is None:
            self.form.show_errors({**self._errors, "host_budget": "Search needs a host or GPU budget, e.g. 2GB"})
            raise ConfigError("Search needs a host or GPU budget: set one, e.g. 2GB")
        self.jobs.start("search", search_body(self, template, self.form.out.value.strip(),
                                              host_budget_bytes=budget.host_bytes, gpu_budget_bytes=budget.gpu_bytes,
                                              margin=float(self.margin.value), max_batch=int(self.max_batch.value),
                                              strategy=self.strategy.value,
                                              executor=make_executor(*self.form.where()),
                                              target_images=self.form.target_size()))

    def cancel(self) -> None:
        """Stop the running job (what **Cancel** does): the running trial's process is ended."""
        if self.jobs.busy:
            self.jobs.request_cancel()
            set_status(self.status, "cancelling: stopping the running trial…")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the running job ends; True when none runs. For scripts and tests."""
        return self.jobs.wait(timeout)

    def open(self, path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None) -> None:
        """Show a results folder's plots and table without running anything; with folders under
        *compare with* (or several paths, the first becoming the results folder), show them all
        side by side as ``workbench compare`` does."""
        if path is not None:
            paths = [path] if isinstance(path, str | os.PathLike) else list(path)
            if not paths:
                raise WorkbenchError("give a results folder to open")
            self.form.out.value = str(paths[0])
            self.compare_with.value = "\n".join(map(str, paths[1:]))
        out = self.form.out.value.strip()
        others = self.compare.others()  # a folder that is not there: one line beside the box
        if others:
            self.open_comparison([out, *others] if out else others)
            return
        if not ResultStore(out).path.exists():
            message = f"no results in {out!r}: run a sweep into it first, or pick a folder with a results.jsonl"
            self.form.show_errors({**self._errors, "out": message})
            raise WorkbenchError(message)
        self.show_results(out)
        n = len(self.results.df) if self.results.df is not None else 0
        set_status(self.status, f"opened {out}: {n} trial(s)")

    def open_comparison(self, folders: Sequence[str | os.PathLike[str]]) -> Comparison:
        """Load several results folders with the CLI's loader and show them side by side. A bad
        folder, or runs that share no finished setting, is one line next to *compare with*, and
        what was shown stays."""
        cmp = self.compare.load(folders)
        self.show_comparison(cmp)
        machines = cmp.df["machine"].nunique()
        differ = f"; {len(cmp.differences)} sweep setting(s) differ (listed below)" if cmp.differences else ""
        set_status(self.status, f"opened {len(cmp.runs)} folders: {len(cmp.df)} trial(s) on {machines} machine(s), "
                                f"{len(cmp.common)} setting(s) measured by every run{differ}")
        return cmp

    def export_report(self) -> Path:
        """Write the HTML report next to the results and link it; while a comparison is shown,
        the comparison page ``workbench compare`` writes, next to the first folder."""
        from workbench.render.report import write_report

        if self.comparison is not None:
            return self._export_comparison()
        host, gpu = self.form.budgets()
        path = write_report(self.form.out.value.strip(), None, host_budget_bytes=host, gpu_budget_bytes=gpu,
                            objective=self.objective.value, margin=float(self.margin.value),
                            title=self.title.value.strip() or None, target_images=self.form.target_size())
        self._link("HTML report", Path(path))
        return Path(path)

    def export_csv(self) -> Path:
        """Write the results as CSV next to them and link it (while a comparison is shown, every
        folder's trials with ``run`` and ``machine`` columns, as ``compare.csv`` next to the first)."""
        if self.comparison is not None:
            folders = [r.path for r in self.comparison.runs]
            path = Path(folders[0]) / "compare.csv"
            load_comparison(folders).df.to_csv(path, index=False)
            self._link("comparison CSV", path)
            return path
        out = Path(self.form.out.value.strip())
        path = out / "results.csv"
        load_results(out).to_csv(path, index=False)
        self._link("CSV", path)
        return path

    def export_script(self) -> Path:
        """Write a standalone job script for the recommended setting (what ``workbench script``
        writes: the same loading, precision, pipeline and batch size, outputs to a ``.npy``) next
        to the results, with the measured and predicted peaks in its header, and link it."""
        from workbench.engine.scriptgen import write_script

        if self.comparison is not None:
            raise WorkbenchError("a job script is for one folder's recommendation: open one results folder")
        rec = self.results.decision
        if rec is None or rec.row is None or not isinstance(rec.row.get("config"), dict):
            raise WorkbenchError("no recommended setting to export: run a sweep, or loosen the budget")
        out = Path(self.form.out.value.strip())
        cfg = TrialConfig.from_dict(rec.row["config"])
        path = Path(write_script(cfg, str(out / "predictions.npy"), out / "job.py", results_dir=out))
        self._link("job script", path)
        return path

    def _export_comparison(self) -> Path:
        from workbench.render.compare_report import COMPARE_FILE, write_compare_report

        assert self.comparison is not None
        folders: list[str | os.PathLike[str]] = [r.path for r in self.comparison.runs]
        path, _ = write_compare_report(folders, Path(folders[0]) / COMPARE_FILE,
                                       title=self.title.value.strip() or None)
        self._link("comparison report", path)
        return path

    def _link(self, what: str, path: Path) -> None:
        # A relative link resolves against the notebook's page, whose folder is the kernel's cwd.
        href = os.path.relpath(path.resolve(), Path.cwd())
        entry = (f"<div class='wb-link'>{what}: <a href='{html.escape(href)}' target='_blank'>"
                 f"{html.escape(path.name)}</a> <code>{html.escape(str(path.resolve()))}</code></div>")
        self.links.value = self.links.value + entry
        set_status(self.status, f"saved the {what} to {path}")
