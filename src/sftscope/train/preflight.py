"""Before a run touches its directory: what --resume and --overwrite may do, and making the dir.

`--overwrite` deletes only a directory that carries RunDir's marker (made by `sftscope train`), and never
one that holds the run's own model, data or chat template. A run dir from an older sftscope (config.yaml
and checkpoints, no marker) is refused with a message to delete it by hand: nothing proves it is not also
someone's folder. `--resume` continues any run dir whose config.yaml matches, marker or not.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sftscope import __version__
from sftscope.config import save_config, to_dict
from sftscope.errors import InputError
from sftscope.rundir import RunDir
from sftscope.train.config import SFTConfig


def check_run_dir(cfg: SFTConfig, run: RunDir, resume: bool, overwrite: bool) -> bool:
    """Never delete or resume the wrong thing. True: start afresh (after deleting an old run of ours)."""
    if run.path.exists() and not run.path.is_dir():
        raise InputError(f"{run}: exists and is not a directory (choose another --out)")
    if run.is_empty():
        return True
    if overwrite:
        inside = _inputs_inside(cfg, run)
        if inside:
            raise InputError(
                f"config {inside[0]}: {inside[1]} lies inside {run}, which --overwrite would delete "
                "(move it out, or choose another --out)"
            )
        if not run.is_ours():
            if run.has_config():
                raise InputError(
                    f"{run}: a run dir from an older sftscope (it has no {run.marker_path.name} marker), so "
                    f"--overwrite will not delete it; delete it by hand (rm -r {run}) or pass --resume"
                )
            raise InputError(
                f"{run}: not a run dir made by sftscope train, so --overwrite will not delete it "
                "(choose another --out, or delete it by hand)"
            )
        return True
    if not resume:
        raise InputError(
            f"{run}: the run dir already exists (pass --resume to continue it, or --overwrite to start over)"
        )
    old, new = run.read_config(), to_dict(cfg)
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if run.has_config() and changed:
        raise InputError(
            f"{run.config_path}: --resume with a different config ({', '.join(changed)} changed); "
            "use the same config, or --overwrite to start over"
        )
    return False


def _inputs_inside(cfg: SFTConfig, run: RunDir) -> tuple[str, str] | None:
    root = run.path.resolve()
    for key in ("model", "data", "chat_template"):
        value = getattr(cfg, key)
        if not value or not Path(value).exists():
            continue
        path = Path(value).resolve()
        if path == root or root in path.parents:
            return key, value
    return None


def make_run_dir(cfg: SFTConfig, run: RunDir, fresh: bool) -> None:
    if fresh and not run.is_empty():
        shutil.rmtree(run.path)  # check_run_dir let only a dir with our marker get here
    run.path.mkdir(parents=True, exist_ok=True)
    if fresh:
        run.mark_ours({"sftscope": __version__})
    run.clear_finished()  # a fresh or resumed run is not finished until `finish` says so
    if not run.has_config():
        save_config(cfg, run.config_path)
