"""A stand-in ``cmake`` for the android target's tests (the NDK cannot be installed here).

It appends one JSON line per call (argv, cwd, the build variables it saw) to
``$STANDIN_RECORD``; with ``STANDIN_FAIL=1`` it prints a CMake error and fails;
on ``--build`` it writes ``$STANDIN_ELF`` (hex of a hand-made ELF header) to
``$STANDIN_WHERE/speed_benchmark_torch`` (default ``bin/``, relative to the
build root the real script cds into), unless ``STANDIN_NO_OUTPUT=1``.
"""

STANDIN_CMAKE = """#!{python}
# stand-in cmake (test only): records argv/env, fakes the build's output
import json, os, sys
from pathlib import Path
keys = ["ANDROID_NDK", "ANDROID_ABI", "BUILD_LITE_INTERPRETER", "USE_VULKAN",
        "ANDROID_STL_SHARED", "MAX_JOBS", "BUILD_ROOT"]
with open(os.environ["STANDIN_RECORD"], "a") as fh:
    fh.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd(),
                         "env": {{k: os.environ.get(k) for k in keys}}}}) + "\\n")
if os.environ.get("STANDIN_FAIL") == "1":
    print("CMake Error at CMakeLists.txt:1 (project): stand-in failure")
    sys.exit(1)
if sys.argv[1:2] == ["--build"] and os.environ.get("STANDIN_NO_OUTPUT") != "1":
    where = Path(os.environ.get("STANDIN_WHERE", "bin"))
    where.mkdir(parents=True, exist_ok=True)
    (where / "speed_benchmark_torch").write_bytes(bytes.fromhex(os.environ["STANDIN_ELF"]))
"""
