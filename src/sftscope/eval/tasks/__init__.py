"""Built-in benchmarks: the one list of task modules, and the suites each task belongs to.

Each module builds its `TaskSpec` (one module per benchmark, see docs/design.md); this file registers them.
Import the lookups from here, which guarantees the built-ins are registered:

    from sftscope.eval.tasks import get_task, resolve_suite, TASKS, SUITES
"""

from sftscope.eval.registry import SUITES, TASKS, get_task, register, resolve_suite, suites_of
from sftscope.eval.tasks import (
    aime24,
    aime25,
    alpacaeval,
    countdown,
    gpqa,
    halueval,
    hexphi,
    humaneval,
    ifeval,
    livecodebench,
    math500,
    mmlu_pro,
    procedural,
    truthfulqa,
)

__all__ = ["SUITES", "TASKS", "get_task", "register", "resolve_suite", "suites_of"]

register(math500.TASK, suites=("paper",))
register(aime24.TASK, suites=("paper",))
register(aime25.TASK, suites=("paper",))
register(gpqa.TASK, suites=("paper",))
register(mmlu_pro.TASK, suites=("paper",))
register(livecodebench.TASK, suites=("paper",))
register(ifeval.TASK, suites=("paper", "general"))
register(alpacaeval.TASK, suites=("general",))
register(truthfulqa.TASK, suites=("general",))
register(halueval.TASK, suites=("general",))
register(hexphi.TASK, suites=("safety",))
register(countdown.TASK, suites=("offline",))
register(countdown.LAB_TASK, suites=("lab",))
register(humaneval.TASK, suites=("offline",))
for _task in procedural.LAB_TASKS:
    register(_task, suites=("lab",))
for _task in procedural.OFFLINE_TASKS:
    register(_task, suites=("offline",))
