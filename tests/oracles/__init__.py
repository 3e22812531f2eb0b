"""The oracles now live in the package (dwarfunwind.testing.oracles), so that ``python -m dwarfunwind
fuzz`` can use them from an installed copy; ``import oracles`` in tests and tools still works."""
import sys

from dwarfunwind.testing import oracles as _oracles
from dwarfunwind.testing.oracles import llvm, readelf

sys.modules[__name__ + ".llvm"] = llvm
sys.modules[__name__ + ".readelf"] = readelf
sys.modules[__name__] = _oracles
