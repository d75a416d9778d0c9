"""The executorch pip wheel's C++ side: where its libraries and headers lie.

``executorch`` is a namespace package (no ``__init__.py``): it is found by the
paths of its search locations, never imported. The wheel ships
``executorch/lib/*.so`` (the runtime with the Module API, optimized and
quantized kernels, the XNNPACK backend, the threadpool...) and
``executorch/include/`` with the vendored c10 headers under
``executorch/runtime/core/portable_type/c10``; it ships no runner binary and no
``threadpool.h`` (its symbols are exported by ``libexecutorch_threadpool.so``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from benchorch.errors import UsageError

INSTALL = "pip install 'benchorch[executorch]'  (keeps torch==2.13.0; `make setup` does it)"

#: The libraries the host runner links, in link order, with what each provides.
LIBRARIES: tuple[tuple[str, str], ...] = (
    ("executorch", "runtime, Module API, data loaders, posix PAL"),
    ("executorch_threadpool", "threadpool (cpu_threads)"),
    ("executorch_kernels_optimized", "kernel library: optimized, portable fallback"),
    ("executorch_kernels_quantized", "quantized kernels"),
    ("executorch_backend_xnnpack", "XNNPACK delegate"),
)
#: Compile definitions the wheel's libraries were built with (its CMake package says so).
DEFINITIONS = ("C10_USING_CUSTOM_GENERATED_MACROS", "ET_EVENT_TRACER_ENABLED")
C10 = Path("executorch/runtime/core/portable_type/c10")


@dataclass(frozen=True)
class Wheel:
    root: Path  # .../site-packages/executorch
    version: str

    @property
    def lib(self) -> Path:
        return self.root / "lib"

    @property
    def include(self) -> Path:
        return self.root / "include"

    def include_dirs(self) -> tuple[Path, ...]:
        return (self.include, self.include / C10)

    def libraries(self) -> tuple[Path, ...]:
        return tuple(self.lib / f"lib{name}.so" for name, _ in LIBRARIES)


def find_wheel() -> Wheel:
    """The installed executorch wheel with its C++ runtime, or a one-line ``UsageError``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        spec = importlib.util.find_spec("executorch")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for where in locations:
        root = Path(where)
        if (root / "lib" / "libexecutorch.so").is_file() and (root / "include").is_dir():
            try:
                found = version("executorch")
            except PackageNotFoundError:
                found = "unknown"
            wheel = Wheel(root, found)
            missing = [p.name for p in wheel.libraries() if not p.is_file()]
            if missing:
                raise UsageError(
                    f"the executorch wheel at {root} lacks {', '.join(missing)}",
                    hint=f"reinstall it: {INSTALL}",
                )
            return wheel
    raise UsageError(
        "--runtime executorch needs the executorch wheel's C++ runtime, and executorch"
        " is not installed here",
        hint=INSTALL,
    )
