"""C++ symbol demangling through the C++ runtime's own ``__cxa_demangle``.

gdb and eu-stack show ``std::terminate()``, not ``_ZSt9terminatev``. The
Itanium ABI demangler ships with every libstdc++; calling it through ctypes
beats writing (and keeping correct) a demangler of our own. Where the library
is missing, names stay mangled.
"""

from __future__ import annotations

from functools import lru_cache

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_demangler: tuple[Any, Any] | None | bool = False  # False: not loaded yet


def _load() -> tuple[Any, Any] | None:
    global _demangler
    if _demangler is False:
        _demangler = None
        import ctypes  # here, not at the top: only C++ names need it, and it costs ~8 ms to import
        import ctypes.util

        try:
            cxx = ctypes.CDLL(ctypes.util.find_library("stdc++") or "libstdc++.so.6")
            libc = ctypes.CDLL(None)
            fn = cxx.__cxa_demangle
            fn.restype = ctypes.c_void_p
            fn.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
            free = libc.free
            free.argtypes = [ctypes.c_void_p]
            _demangler = (fn, free)
        except (OSError, AttributeError):
            _demangler = None
    return _demangler  # type: ignore[return-value]


@lru_cache(maxsize=4096)
def demangle(name: str) -> str:
    """``name`` demangled if it is an Itanium C++ name (``_Z...``) and a demangler is available."""
    if not name.startswith("_Z"):
        return name
    lib = _load()
    if lib is None:
        return name
    fn, free = lib
    import ctypes

    status = ctypes.c_int(0)
    ptr = fn(name.encode("utf-8", "replace"), None, None, ctypes.byref(status))
    if not ptr:
        return name
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace") if status.value == 0 else name
    finally:
        free(ptr)
