"""The report's figures as PNG bytes (matplotlib, Agg backend: no display, no network).

Steps are log-spaced (10, 20, 40, ... plus the base at 0), so the x-axis is symlog with its linear part
below the first positive step: the base sits at 0 and every later checkpoint is evenly spread.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: the report renders headless, never on a display
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sftscope.analysis.behaviour import BehaviourPoint
from sftscope.analysis.curves import Curve, CurvePoint
from sftscope.analysis.dynamics import Dynamics
from sftscope.analysis.findings import domain_title
from sftscope.analysis.tradeoff import Tradeoff
from sftscope.report.tables import measure

DPI = 100
COLOURS = {"in_domain": "#1f77b4", "cross_domain": "#d62728", "general": "#2ca02c", "safety": "#9467bd"}
MARKER_COLOURS = {"backtracking": "#d62728", "verification": "#1f77b4", "subgoal": "#2ca02c"}


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def step_axis(ax: Axes, steps: Sequence[int]) -> None:
    positive = [s for s in steps if s > 0]
    if positive and max(positive) / min(positive) >= 8:
        ax.set_xscale("symlog", linthresh=min(positive), linscale=0.5)
    if len(steps) <= 14:
        ax.set_xticks(list(steps))
        ax.set_xticklabels([str(s) for s in steps], fontsize=7, rotation=45 if len(steps) > 9 else 0)
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(alpha=0.25)


def band(
    ax: Axes, points: Sequence[CurvePoint], colour: str, label: str | None = None, scale: float = 100.0
) -> None:
    steps = [p.step for p in points]
    ax.fill_between(
        steps, [p.lo * scale for p in points], [p.hi * scale for p in points], color=colour, alpha=0.2
    )
    ax.plot(steps, [p.mean * scale for p in points], "o-", color=colour, ms=3.5, lw=1.5, label=label)


def curve_panel(ax: Axes, curve: Curve, dyn: Dynamics, colour: str, title: str, fontsize: int = 10) -> None:
    """A curve with its band; a share in %, a raw score (a reward) on its own axis as it is."""
    scale = 100.0 if curve.percent else 1.0
    band(ax, curve.points, colour, scale=scale)
    base = curve.points[0]
    ax.axhline(base.mean * scale, color="0.35", ls="--", lw=1, label=f"base (step {base.step})")
    if dyn.dip_step is not None:
        dip = next(p for p in curve.points if p.step == dyn.dip_step)
        ax.annotate(
            "dip",
            (dip.step, dip.mean * scale),
            xytext=(0, -16),
            textcoords="offset points",
            ha="center",
            fontsize=7,
            color=colour,
        )
    if dyn.recovery_step is not None:
        ax.axvline(dyn.recovery_step, color=colour, ls=":", lw=1)
    rising = " ↗ still rising" if dyn.still_rising else ""
    ax.set_title(f"{title}\n{dyn.label}{rising}", fontsize=fontsize)
    step_axis(ax, curve.steps)


def domain_figure(domains: Sequence[tuple[Curve, Dynamics]]) -> bytes:
    """One panel per domain: mean score with its 95% band and the base as a dashed line."""
    n = len(domains)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.2), squeeze=False)
    for ax, (curve, dyn) in zip(axes[0], domains):
        curve_panel(ax, curve, dyn, COLOURS.get(curve.domain, "#444444"), domain_title(curve.domain))
        ax.set_ylabel("score (%)", fontsize=8)
    axes[0][0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return png(fig)


def task_figure(tasks: Sequence[tuple[Curve, Dynamics]], columns: int = 4) -> bytes:
    """Small multiples: one panel per task, coloured by domain."""
    cols = min(columns, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.9 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.flat[len(tasks) :]:
        ax.set_visible(False)
    for ax, (curve, dyn) in zip(axes.flat, tasks):
        curve_panel(ax, curve, dyn, COLOURS.get(curve.domain, "#444444"), curve.name, fontsize=8)
        ax.set_ylabel(f"{measure(curve)}{' (%)' if curve.percent else ''}", fontsize=7)
    fig.tight_layout()
    return png(fig)


def behaviour_figure(points: Sequence[BehaviourPoint]) -> bytes:
    """Response length, truncation rate and marker rates per checkpoint."""
    steps = [p.step for p in points]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.1))
    band(axes[0], [p.tokens for p in points], "#444444", scale=1.0)
    axes[0].set_title("mean response tokens", fontsize=10)
    band(axes[1], [p.truncation for p in points], "#ff7f0e")
    band(axes[1], [p.accuracy for p in points], "#1f77b4")
    axes[1].set_title("truncated (orange) and correct (blue), %", fontsize=10)
    for category, colour in MARKER_COLOURS.items():
        values = [p.marker_rates.get(category, 0.0) for p in points]
        axes[2].plot(steps, values, "o-", color=colour, ms=3.5, label=category)
    extra = sorted({c for p in points for c in p.marker_rates} - set(MARKER_COLOURS))
    for category in extra:
        axes[2].plot(steps, [p.marker_rates.get(category, 0.0) for p in points], "o-", ms=3.5, label=category)
    axes[2].set_title("markers per 1k tokens", fontsize=10)
    axes[2].legend(fontsize=7)
    for ax in axes:
        step_axis(ax, steps)
    fig.tight_layout()
    return png(fig)


def tradeoff_figure(t: Tradeoff) -> bytes:
    """Reasoning change against the safety measure's change per checkpoint, and that measure over steps
    (base included), each labelled with what it is: judge ASR, lexicon proxy or an unnamed safety score."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    ax = axes[0]
    for p in t.points:
        x, y = p.reasoning.delta * 100, p.safety.delta * 100
        ax.errorbar(
            x,
            y,
            xerr=[[x - p.reasoning.lo * 100], [p.reasoning.hi * 100 - x]],
            yerr=[[y - p.safety.lo * 100], [p.safety.hi * 100 - y]],
            fmt="o",
            color="#9467bd",
            ms=4,
            capsize=2,
            lw=0.8,
        )
        ax.annotate(str(p.step), (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7)
    ax.axhline(0, color="0.4", lw=0.8)
    ax.axvline(0, color="0.4", lw=0.8)
    ax.set_xlabel("reasoning change vs base (points)", fontsize=8)
    ax.set_ylabel(f"{t.label}: change vs base (points)", fontsize=8)
    ax.set_title("safety vs reasoning, labelled by step", fontsize=10)
    ax.grid(alpha=0.25)
    band(axes[1], t.levels, "#8c564b")
    axes[1].set_title(f"{t.label}, %", fontsize=10)
    step_axis(axes[1], [p.step for p in t.levels])
    fig.tight_layout()
    return png(fig)
