"""Label the shape of a score-over-training curve, with every decision taken from confidence intervals.

"Significantly below/above" always means that the interval of the *difference* excludes 0: a paired
bootstrap over questions for curves built from samples, Newcombe's combination of the two points' intervals for
curves given as published numbers (see `curves.py`). There is no bare threshold anywhere. A checkpoint that
shares no question with the base has no difference, so it takes no part in the labels (the summary says so).

Searching m checkpoints for a dip (or, after the dip, for a recovery) is m tests, so those searches use a
Bonferroni level (95% family-wise: z for 0.05/m two-sided; the interval is widened by z / 1.96). Without it a
truly flat 9-point curve at n = 1500 came out non-flat 16% of the time; with it, about 5%. The single planned
comparisons (last checkpoint vs base, "still rising", "kept falling") use plain 95%. Reported intervals are 95%.
"Back to base" is the one claim of *no* difference, so it uses the printed 95% interval, never the wider
Bonferroni one: a step called back to base never shows a 95% change vs base that excludes 0 below.

The first point is the base (step 0 when the base model was evaluated). Labels, checked in this order:

- dip-and-recovery: some checkpoint is significantly below base; at the lowest such checkpoint (the dip), a
  later checkpoint is significantly above the dip (the recovery step is the first one).
- degradation: a significant dip with no recovery, and the curve ends at its low: the dip is the last
  checkpoint, or the last checkpoint is significantly below the first checkpoint that fell below base.
- dip-unrecovered: a significant dip with no recovery that bottomed out before the end.
- monotone-gain: never significantly below base, and the last checkpoint is significantly above base.
- flat: none of the above (no significant change at the end, and no significant dip).
- too-few-points: fewer than two checkpoints.
- not-comparable: no checkpoint after the first shares a question with it.

"Still rising" (under-optimized: train longer): the last checkpoint is the highest of the curve and is
significantly above the checkpoint two before it (with only base + one checkpoint: significantly above base).
It is reported for every label, because a recovering curve that still climbs is the paper's main case.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

from sftscope.analysis.curves import Curve
from sftscope.analysis.estimator import Diff


@dataclass(frozen=True)
class Dynamics:
    name: str
    label: str
    base_step: int
    final_step: int
    final: Diff | None  # last compared checkpoint minus base
    dip_step: int | None = None
    dip: Diff | None = None  # dip checkpoint minus base (negative)
    recovery_step: int | None = None  # first step after the dip significantly above it
    back_to_base_step: int | None = None  # first step after the dip whose 95% change vs base includes 0
    still_rising: bool = False
    percent: bool = True  # scores are shares, changes are in points
    nominal_dips: tuple[int, ...] = ()  # below base at 95% but not after the Bonferroni correction
    uncompared: tuple[int, ...] = ()  # steps that share no question with the base

    def summary(self) -> str:
        """Plain-words sentences, changes in percentage points for shares, e.g.
        "Cross-domain: dip-and-recovery. Lowest at step 40: −6.1 points vs base (95% CI −8.0 to −4.2); ..."
        """
        if self.label == "too-few-points":
            return f"{self.name}: only one checkpoint (step {self.base_step}), so no trend can be judged."
        if self.label == "not-comparable":
            return (
                f"{self.name}: no later checkpoint shares a question with step {self.base_step}, so no change "
                "can be measured (no paired comparison across different questions)."
            )
        ref = "base" if self.base_step == 0 else f"step {self.base_step}"
        text = f"{self.name}: {self.label}."
        if self.dip is not None and self.dip_step is not None:
            last = "the last compared checkpoint" if self.uncompared else "the last checkpoint"
            where = f"{last}, step" if self.dip_step == self.final_step else "step"
            text += f" Lowest at {where} {self.dip_step}: {change(self.dip, self.percent)} vs {ref}"
            if self.recovery_step is not None:
                text += f"; significantly above that low from step {self.recovery_step}"
            if self.back_to_base_step is not None:
                text += f"; back to {ref} level by step {self.back_to_base_step}"
            elif self.dip_step != self.final_step:
                text += f"; never back to {ref} level"
            text += "."
        if self.final is not None and self.dip_step != self.final_step:
            text += f" At step {self.final_step}: {change(self.final, self.percent)} vs {ref}."
        if self.nominal_dips:
            steps = ", ".join(map(str, self.nominal_dips))
            text += (
                f" Below {ref} at 95% at step {steps}, but not after the Bonferroni correction for the "
                "checkpoints searched, so that is no dip."
            )
        if self.uncompared:
            text += f" Step {', '.join(map(str, self.uncompared))} shares no question with {ref} and is not compared."
        if self.still_rising:
            text += " Still rising at the last checkpoint: under-optimized, train longer."
        return text


def signed(x: float, percent: bool = True) -> str:
    """+1.2 (points) or +0.123 (raw values such as a reward), with a real minus sign."""
    return (f"{x * 100:+.1f}" if percent else f"{x:+.3f}").replace("-", "−")


def change(diff: Diff, percent: bool = True) -> str:
    """'−6.1 points (95% CI −8.0 to −4.2)' for shares; '+0.120 (95% CI ...)' for raw values."""
    unit = " points" if percent else ""
    return f"{signed(diff.delta, percent)}{unit} (95% CI {signed(diff.lo, percent)} to {signed(diff.hi, percent)})"


def family_z(m: int, alpha: float = 0.05) -> float:
    """Two-sided z for a Bonferroni family of m tests."""
    return NormalDist().inv_cdf(1 - alpha / (2 * max(1, m)))


def still_rising(curve: Curve, compared: list[int]) -> bool:
    """The last compared point is the highest and significantly above the compared point two before it."""
    points, last = curve.points, compared[-1]
    if points[last].mean < max(points[j].mean for j in compared[:-1]):
        return False
    d = curve.diff(compared[max(0, len(compared) - 3)], last)
    return d is not None and d.above


def classify(curve: Curve) -> Dynamics:
    """The label and its evidence for one curve (see the module docstring for the rules)."""
    points = curve.points
    base = points[0]
    common = dict(
        name=curve.name,
        base_step=base.step,
        percent=curve.percent,
    )
    if len(points) < 2:
        return Dynamics(label="too-few-points", final_step=base.step, final=None, **common)
    found = {j: curve.diff(0, j) for j in range(1, len(points))}
    deltas = {j: d for j, d in found.items() if d is not None}
    uncompared = tuple(points[j].step for j, d in found.items() if d is None)
    if not deltas:
        return Dynamics(
            label="not-comparable", final_step=base.step, final=None, uncompared=uncompared, **common
        )
    compared = [0, *deltas]
    last = compared[-1]
    common.update(final_step=points[last].step, final=deltas[last], uncompared=uncompared)
    rising = still_rising(curve, compared)
    z_dip = family_z(len(deltas))
    below = [j for j, d in deltas.items() if d.below_at(z_dip)]
    if not below:
        nominal = tuple(points[j].step for j, d in deltas.items() if d.below)
        label = "monotone-gain" if deltas[last].above else "flat"
        return Dynamics(label=label, still_rising=rising, nominal_dips=nominal, **common)

    dip = min(below, key=lambda j: (points[j].mean, j))
    later = [j for j in deltas if j > dip]
    z_rec = family_z(len(later))
    recovery = next((j for j in later if (d := curve.diff(dip, j)) is not None and d.above_at(z_rec)), None)
    back = next((j for j in later if not deltas[j].below), None)
    kept_falling = curve.diff(below[0], last)
    if recovery is not None:
        label = "dip-and-recovery"
    elif dip == last or (kept_falling is not None and kept_falling.below):
        label = "degradation"
    else:
        label = "dip-unrecovered"
    return Dynamics(
        label=label,
        dip_step=points[dip].step,
        dip=deltas[dip],
        recovery_step=None if recovery is None else points[recovery].step,
        back_to_base_step=None if back is None else points[back].step,
        still_rising=rising,
        **common,
    )
