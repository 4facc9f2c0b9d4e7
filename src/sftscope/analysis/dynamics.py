"""Label the shape of a score-over-training curve, with every decision taken from confidence intervals.

"Significantly below/above" always means that the interval of the *difference* excludes 0: a paired
bootstrap over questions for curves built from samples, Newcombe's combination of the two points' intervals for
curves given as published numbers (see `curves.py`). There is no bare threshold anywhere.

Searching m checkpoints for a dip (or, after the dip, for a recovery) is m tests, so those searches use a
Bonferroni level (95% family-wise: z for 0.05/m two-sided; the interval is widened by z / 1.96). Without it a
truly flat 9-point curve at n = 1500 came out non-flat 16% of the time; with it, about 5%. The single planned
comparisons (last checkpoint vs base, "still rising", "kept falling") use plain 95%. Reported intervals are 95%.

The first point is the base (step 0 when the base model was evaluated). Labels, checked in this order:

- dip-and-recovery: some checkpoint is significantly below base; at the lowest such checkpoint (the dip), a
  later checkpoint is significantly above the dip (the recovery step is the first one).
- degradation: a significant dip with no recovery, and the curve ends at its low: the dip is the last
  checkpoint, or the last checkpoint is significantly below the first checkpoint that fell below base.
- dip-unrecovered: a significant dip with no recovery that bottomed out before the end.
- monotone-gain: never significantly below base, and the last checkpoint is significantly above base.
- flat: none of the above (no significant change at the end, and no significant dip).
- too-few-points: fewer than two checkpoints.

"Still rising" (under-optimized: train longer): the last checkpoint is the highest of the curve and is
significantly above the checkpoint two before it (with only base + one checkpoint: significantly above base).
It is reported for every label, because a recovering curve that still climbs is the paper's main case.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

from sftscope.analysis.curves import Curve, Diff

LABELS = ("monotone-gain", "dip-and-recovery", "dip-unrecovered", "degradation", "flat", "too-few-points")


@dataclass(frozen=True)
class Dynamics:
    name: str
    kind: str
    domain: str
    run: str
    label: str
    base_step: int
    base: float
    final_step: int
    final: Diff  # last checkpoint minus base
    best_step: int
    dip_step: int | None = None
    dip: Diff | None = None  # dip checkpoint minus base (negative)
    recovery_step: int | None = None  # first step after the dip significantly above it
    back_to_base_step: int | None = None  # first step after the dip no longer significantly below base
    still_rising: bool = False

    def summary(self, unit: float = 100.0) -> str:
        """Plain-words sentences, scores in percentage points by default, e.g.
        "Cross-domain: dip-and-recovery. Lowest at step 40: −6.1 points vs base (95% CI −8.0 to −4.2); ..."
        """
        if self.label == "too-few-points":
            return f"{self.name}: only one checkpoint (step {self.base_step}), so no trend can be judged."
        text = f"{self.name}: {self.label}."
        if self.dip is not None and self.dip_step is not None:
            where = "the last checkpoint, step" if self.dip_step == self.final_step else "step"
            text += f" Lowest at {where} {self.dip_step}: {pts(self.dip, unit)} vs base"
            if self.recovery_step is not None:
                text += f"; significantly above that low from step {self.recovery_step}"
            if self.back_to_base_step is not None:
                text += f"; back to base level by step {self.back_to_base_step}"
            elif self.dip_step != self.final_step:
                text += "; never back to base level"
            text += "."
        if self.dip_step != self.final_step:
            text += f" At step {self.final_step}: {pts(self.final, unit)} vs base."
        if self.still_rising:
            text += " Still rising at the last checkpoint: under-optimized, train longer."
        return text


def pts(diff: Diff, unit: float = 100.0) -> str:
    """'−6.1 points (95% CI −8.0 to −4.2)' with a real minus sign."""

    def fmt(x: float) -> str:
        return f"{x * unit:+.1f}".replace("-", "−")

    return f"{fmt(diff.delta)} points (95% CI {fmt(diff.lo)} to {fmt(diff.hi)})"


def family_z(m: int, alpha: float = 0.05) -> float:
    """Two-sided z for a Bonferroni family of m tests."""
    return NormalDist().inv_cdf(1 - alpha / (2 * max(1, m)))


def still_rising(curve: Curve) -> bool:
    points = curve.points
    last = len(points) - 1
    if last < 1 or points[last].mean < max(p.mean for p in points[:last]):
        return False
    return curve.diff(max(0, last - 2), last).above


def classify(curve: Curve) -> Dynamics:
    """The label and its evidence for one curve (see the module docstring for the rules)."""
    points = curve.points
    base = points[0]
    last = len(points) - 1
    best = max(range(len(points)), key=lambda j: points[j].mean)
    common = dict(
        name=curve.name,
        kind=curve.kind,
        domain=curve.domain,
        run=curve.run,
        base_step=base.step,
        base=base.mean,
        final_step=points[last].step,
        best_step=points[best].step,
    )
    if last < 1:
        return Dynamics(label="too-few-points", final=Diff(0.0, 0.0, 0.0), **common)
    deltas = {j: curve.diff(0, j) for j in range(1, last + 1)}
    rising = still_rising(curve)
    z_dip = family_z(last)
    below = [j for j, d in deltas.items() if d.below_at(z_dip)]
    if not below:
        label = "monotone-gain" if deltas[last].above else "flat"
        return Dynamics(label=label, final=deltas[last], still_rising=rising, **common)

    dip = min(below, key=lambda j: (points[j].mean, j))
    z_rec = family_z(last - dip)
    recovery = next((j for j in range(dip + 1, last + 1) if curve.diff(dip, j).above_at(z_rec)), None)
    back = next((j for j in range(dip + 1, last + 1) if not deltas[j].below_at(z_dip)), None)
    if recovery is not None:
        label = "dip-and-recovery"
    elif dip == last or curve.diff(below[0], last).below:
        label = "degradation"
    else:
        label = "dip-unrecovered"
    return Dynamics(
        label=label,
        final=deltas[last],
        dip_step=points[dip].step,
        dip=deltas[dip],
        recovery_step=None if recovery is None else points[recovery].step,
        back_to_base_step=None if back is None else points[back].step,
        still_rising=rising,
        **common,
    )
