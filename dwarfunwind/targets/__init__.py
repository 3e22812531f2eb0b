"""Where registers and memory come from: core files, live processes, snapshots.

Every target implements :class:`~dwarfunwind.targets.base.Target`.
"""

from .base import Mapping, Target, ThreadInfo

__all__ = ["Mapping", "Target", "ThreadInfo"]
