"""`build_report`: read a run's samples, analyse them, and write `index.html` + `report.md` atomically.

from sftscope.report.build import build_report
result = build_report("runs/lab")            # -> runs/lab/report/index.html, report.md, figures/*.png
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sftscope.analysis.estimator import N_BOOT
from sftscope.analysis.findings import Findings, analyse_run
from sftscope.atomic import atomic_open
from sftscope.report import figures as fig
from sftscope.report.document import run_document
from sftscope.report.html import render_html
from sftscope.report.markdown import render_markdown
from sftscope.report.source import RunSource, load_run


@dataclass
class ReportResult:
    run: str
    html: Path
    markdown: Path
    figures: list[Path]
    findings: Findings


def make_figures(findings: Findings, tick: Callable[[str], None] = lambda _: None) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if findings.domains:
        tick("domain curves")
        out["domains"] = fig.domain_figure(findings.domains)
    if findings.tasks:
        tick("task curves")
        out["tasks"] = fig.task_figure(findings.tasks)
    if findings.behaviour:
        tick("behaviour")
        out["behaviour"] = fig.behaviour_figure(findings.behaviour)
    if findings.tradeoff is not None:
        tick("trade-off")
        out["tradeoff"] = fig.tradeoff_figure(findings.tradeoff)
    return out


def write_report(
    findings: Findings, source: RunSource, out_dir: Path, pngs: dict[str, bytes]
) -> ReportResult:
    figure_paths: dict[str, str] = {}
    written = []
    for name, data in pngs.items():
        path = out_dir / "figures" / f"{name}.png"
        with atomic_open(path, "wb") as handle:
            handle.write(data)
        figure_paths[name] = f"figures/{name}.png"
        written.append(path)
    doc = run_document(findings, source, pngs)
    html_path, md_path = out_dir / "index.html", out_dir / "report.md"
    with atomic_open(html_path) as handle:
        handle.write(render_html(doc))
    with atomic_open(md_path) as handle:
        handle.write(render_markdown(doc, figure_paths))
    return ReportResult(findings.run, html_path, md_path, written, findings)


def build_report(
    source: str | Path,
    *,
    db: str | Path | None = None,
    out: str | Path | None = None,
    run: str | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> ReportResult:
    """Analyse one run and write its report; `out` defaults to `<run dir or DB dir>/report`."""
    tick = progress or (lambda _: None)
    tick("reading samples")
    loaded = load_run(source, db=db, run=run)
    tick("analysing")
    findings = analyse_run(loaded.records, loaded.run, n_boot=n_boot, seed=seed)
    out_dir = Path(out) if out is not None else loaded.report_dir
    pngs = make_figures(findings, tick)
    tick("writing")
    return write_report(findings, loaded, out_dir, pngs)
