"""``python -m benchorch.hostrunner``: speed_benchmark_torch's flags and output, in Python.

A labelled stand-in: ``--device local`` times the real binary, built for this
host (``sweep.inputs.local_binary``), and falls back to this program only with
``--runner python`` or, with a warning, where no libtorch or PyTorch source is
(its runs are stored with binary origin ``hostrunner`` and the report says so).
It speaks the binary's flags and output so the parse path is the one phones use,
following PyTorch 1.13.1 ``binaries/speed_benchmark_torch.cc`` and
``c10/util/flags_use_no_gflags.cpp`` (the Android build's flag parser); its own
checks name this program (``[enforce fail at benchorch.hostrunner]``), not a
C++ file and line:

Flags: ``--name=value`` or ``--name value``; booleans need an explicit value
(``true``/``True``/``TRUE``/``1`` or the ``false`` forms; a bare ``--report_pep``
swallows the next argument); integers go through C ``atoi`` (``--iter=abc`` is
0); an argument without ``--`` is ignored; any argument containing ``--help``
prints the usage and exits 0. An unknown flag, a bad boolean or a missing value
print the parser's log (``Parsing commandline arguments for c10.``, then
``C10 flag: unrecognized commandline argument: --x=1``) and
``Failed to parse command line flags!`` on stderr and exit 1.

Run: inputs are all ones of ``--input_dims`` / ``--input_type`` /
``--input_memory_format`` (one per ``;``-separated tensor); the model is loaded
after the inputs are made, ``.ptl`` files and FlatBuffer content with the lite
interpreter, anything else with ``torch.jit.load`` (graph optimiser off, as the
full-JIT binary does); ``--pthreadpool_size=N`` (N > 0) sets torch's intra-op
threads. Then, on stdout::

    Starting benchmark.
    Running warmup runs.
    Main runs.
    PyTorchObserver {"type": "NET", "unit": "us", "metric": "latency", "value": "2142"}
    Main run finished. Microseconds per iter: 3782.25. Iters per second: 264.393

with one observer line per main iteration (``--report_pep=true``), printed after
the loop. Each sample is that iteration's wall time truncated to whole
microseconds; the summary divides the loop's total time T (µs) by the count N:
``T/N`` and ``1e6*N/T``. Numbers print like C++ ``ostream`` floats (``%g``, 6
significant digits), so ``--iter=0`` gives ``inf`` and ``0``. ``--print_output``
prints the output once before the benchmark, in torch's Python formatting
(the C++ binary's IValue printing differs in layout).

Errors (bad dims, unsupported type, unloadable model, a failing forward) print
``terminating with uncaught exception of type c10::Error: <what>`` on stderr
and abort (SIGABRT), like the binary built with libc++. Only ``torch`` is
imported, and only after the flags parsed, to keep start-up cheap.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from benchorch import benchflags

USAGE = (
    "Run speed benchmark for pytorch model.\n"
    "Example usage:\n"
    "./speed_benchmark_torch --model=<model_file> --use_bundled_input=0 --warmup=5 --iter=20"
)

#: name -> (kind, default, help). The binary's own flags plus those its libraries register.
FLAGS: dict[str, tuple[str, Any, str]] = {
    "model": ("string", "", "The given torch script model to benchmark."),
    "input_dims": ("string", "", "Input dims: ',' inside a tensor, ';' between tensors."),
    "input_type": ("string", "", "Input type (uint8_t/float)"),
    "input_memory_format": (
        "string",
        benchflags.CONTIGUOUS,
        "Input memory format (contiguous_format/channels_last)",
    ),
    "no_inputs": ("bool", False, "Whether the model has any input."),
    "use_caching_allocator": ("bool", False, "Whether to cache allocations."),
    "use_bundled_input": ("int", -1, "Run on the model's bundled input with this index."),
    "print_output": ("bool", False, "Whether to print output with all one input tensor."),
    "warmup": ("int", 0, "The number of iterations to warm up."),
    "iter": ("int", 10, "The number of iterations to run."),
    "report_pep": ("bool", False, "Whether to print performance stats for AI-PEP."),
    "pytext_len": ("int", 0, "Length of input sequence."),
    "vulkan": ("bool", False, "Whether to use Vulkan backend (GPU)."),
    "pthreadpool_size": ("int", 0, "Override the default thread pool size."),
    "caffe2_log_level": ("int", 0, "The minimum log level that caffe2 will output."),
}

#: where the host runner's own checks say they failed: this program, not a C++ file
#: and line it does not have (the words after it follow the binary's, for the parser)
WHERE = "benchorch.hostrunner"


class FlagError(Exception):
    pass


class CppError(Exception):
    """An exception the C++ binary would not catch: ``type_name`` is its C++ type."""

    def __init__(self, what: str, type_name: str = "c10::Error") -> None:
        super().__init__(what)
        self.type_name = type_name


def atoi(text: str) -> int:
    """C ``atoi``: skip leading whitespace, optional sign, digits up to the first non-digit."""
    s = text.lstrip(" \t\n\v\f\r")
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    digits = ""
    for ch in s:
        if not ch.isascii() or not ch.isdigit():
            break
        digits += ch
    value = sign * int(digits) if digits else 0
    # int is 32-bit: wrap like the two's-complement conversion glibc's strtol result gets
    return (value + 2**31) % 2**32 - 2**31


def _parse_bool(text: str) -> bool | None:
    if text in ("false", "False", "FALSE", "0"):
        return False
    if text in ("true", "True", "TRUE", "1"):
        return True
    return None


def parse_flags(argv: list[str]) -> dict[str, Any]:
    """Values of every flag (defaults filled in); raises FlagError with the parser's log."""
    values = {name: default for name, (_, default, _) in FLAGS.items()}
    log = ["Parsing commandline arguments for c10."]
    i = 0
    while i < len(argv):
        arg = argv[i]
        if "--help" in arg:
            print(USAGE)
            print("Arguments: ")
            for name, (_, _, text) in sorted(FLAGS.items()):
                print(f"    {name}: {text}")
            sys.stdout.flush()
            raise SystemExit(0)
        if not arg.startswith("--"):
            log.append(
                "C10 flag: commandline argument does not match --name=var or --name format: "
                f"{arg}. Ignoring this argument."
            )
            i += 1
            continue
        if "=" in arg:
            key, value = arg[2:].split("=", 1)
        else:
            key = arg[2:]
            i += 1
            if i == len(argv):
                raise FlagError(
                    "\n".join(log)
                    + "\nC10 flag: reached the last commandline argument, but I am expecting"
                    f" a value for {arg}"
                )
            value = argv[i]
        if key not in FLAGS:
            log.append(f"C10 flag: unrecognized commandline argument: {arg}")
            raise FlagError("\n".join(log))
        kind = FLAGS[key][0]
        if kind == "int":
            values[key] = atoi(value)
        elif kind == "bool":
            parsed = _parse_bool(value)
            if parsed is None:
                log.append(f"C10 flag error: Cannot convert argument to bool: {value}")
                log.append(
                    "Note that if you are passing in a bool flag, you need to explicitly "
                    "specify it, like --arg=True or --arg True. Otherwise, the next argument "
                    "may be inadvertently used as the argument, causing the above error."
                )
                log.append(f"C10 flag: illegal argument: {arg}")
                raise FlagError("\n".join(log))
            values[key] = parsed
        else:
            values[key] = value
        i += 1
    return values


def fmt(x: float) -> str:
    """C++ ``ostream << float``: ``%g`` with 6 significant digits."""
    return f"{x:g}"


def _enforce(condition: str, msg: str) -> CppError:
    return CppError(f"[enforce fail at {WHERE}] {condition}. {msg}")


def make_inputs(flags: dict[str, Any]) -> list[Any]:
    import torch

    if flags["no_inputs"] or flags["use_bundled_input"] >= 0:
        return []

    def split(text: str) -> list[str]:  # the binary skips empty entries
        return [p for p in text.split(benchflags.INPUT_SEP) if p]

    dims_list = split(flags["input_dims"])
    type_list = split(flags["input_type"])
    fmt_list = split(flags["input_memory_format"])
    if len(dims_list) != len(type_list):
        raise _enforce(
            "input_dims_list.size() == input_type_list.size()",
            f"{len(dims_list)} vs {len(type_list)}. "
            "Input dims and type should have the same number of items.",
        )
    if len(dims_list) != len(fmt_list):
        raise _enforce(
            "input_dims_list.size() == input_memory_format_list.size()",
            f"{len(dims_list)} vs {len(fmt_list)}. "
            "Input dims and format should have the same number of items.",
        )
    inputs: list[Any] = []
    for dims_text, type_name, mem in zip(dims_list, type_list, fmt_list, strict=True):
        dims = []
        for piece in (p for p in dims_text.split(benchflags.SIZE_SEP) if p):
            value = atoi(piece)
            if not piece.strip().lstrip("+-")[:1].isdigit():
                raise CppError("stoi", "std::invalid_argument")
            dims.append(value)
        if type_name not in benchflags.TORCH_DTYPES:
            raise _enforce("", f"Unsupported input type: {type_name}")
        if mem == benchflags.CHANNELS_LAST:
            if len(dims) != 4:
                raise _enforce("", "channels_last memory format only available on 4D tensors!")
            memory_format = torch.channels_last
        elif mem == benchflags.CONTIGUOUS:
            memory_format = torch.contiguous_format
        else:
            raise _enforce("", f"Unsupported input memory format: {mem}")
        try:
            tensor = torch.ones(dims, dtype=getattr(torch, benchflags.TORCH_DTYPES[type_name]))
        except RuntimeError as exc:
            raise CppError(str(exc)) from exc
        inputs.append(tensor.contiguous(memory_format=memory_format))
    if flags["pytext_len"] > 0:
        inputs.append(flags["pytext_len"] * torch.ones(1, dtype=torch.int64))
    return inputs


def _is_lite(path: str) -> bool:
    """``.ptl`` names and FlatBuffer content (``PTMF`` at byte 4) go to the lite interpreter."""
    if path.endswith(".ptl"):
        return True
    with open(path, "rb") as fh:
        return fh.read(8)[4:8] == b"PTMF"


def load_module(path: str) -> Any:
    import torch

    if not os.path.isfile(path):
        raise CppError(
            "open file failed because of errno 2 on fopen: No such file or directory, "
            f"file path: {path}"
        )
    try:
        if _is_lite(path):
            from torch.jit.mobile import _load_for_lite_interpreter

            return _load_for_lite_interpreter(path)
        module = torch.jit.load(path, map_location="cpu")
        module.eval()
        return module
    except (RuntimeError, ValueError) as exc:
        raise CppError(str(exc)) from exc


def benchmark(flags: dict[str, Any]) -> None:
    import torch

    if flags["pthreadpool_size"] > 0:
        torch.set_num_threads(flags["pthreadpool_size"])
    if flags["vulkan"]:
        raise CppError("Vulkan backend is not available in the host runner")
    inputs = make_inputs(flags)
    module = load_module(flags["model"])
    if flags["use_bundled_input"] >= 0:
        getter = getattr(module, "get_all_bundled_inputs", None)
        if getter is None:
            print("Model does not have bundled inputs.  Before saving,", file=sys.stderr)
            print(
                "use torch.utils.bundled_inputs.augment_model_with_bundled_inputs.",
                file=sys.stderr,
            )
            raise SystemExit(1)
        bundled = getter()
        if flags["use_bundled_input"] >= len(bundled):
            print(f"Model has only {len(bundled)} bundled inputs.", file=sys.stderr)
            raise SystemExit(1)
        inputs = list(bundled[flags["use_bundled_input"]])
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        forward = module.forward
        try:
            if flags["print_output"]:
                print(forward(*inputs))
            print("Starting benchmark.")
            print("Running warmup runs.")
            if flags["warmup"] < 0:
                raise _enforce(
                    "FLAGS_warmup >= 0",
                    f"Number of warm up runs should be non negative, provided {flags['warmup']}.",
                )
            for _ in range(flags["warmup"]):
                forward(*inputs)
            print("Main runs.")
            sys.stdout.flush()
            n = flags["iter"]
            if n < 0:
                raise _enforce(
                    "FLAGS_iter >= 0",
                    f"Number of main runs should be non negative, provided {n}.",
                )
            clock = time.perf_counter_ns
            times: list[int] = []
            begin = clock()
            for _ in range(n):
                start = clock()
                forward(*inputs)
                times.append((clock() - start) // 1000)
            micros = (clock() - begin) / 1000.0
        except RuntimeError as exc:
            raise CppError(str(exc)) from exc
    if flags["report_pep"]:
        for t in times:
            print(
                'PyTorchObserver {"type": "NET", "unit": "us", "metric": "latency", '
                f'"value": "{fmt(t)}"}}'
            )
    per_iter = micros / n if n else float("inf")
    per_sec = 1e6 * n / micros if micros else float("inf")
    print(
        f"Main run finished. Microseconds per iter: {fmt(per_iter)}. "
        f"Iters per second: {fmt(per_sec)}"
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        flags = parse_flags(args)
    except FlagError as exc:
        print(str(exc), file=sys.stderr)
        print("Failed to parse command line flags!", file=sys.stderr)
        return 1
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    try:
        benchmark(flags)
    except CppError as exc:
        sys.stdout.flush()
        sys.stderr.write(f"terminating with uncaught exception of type {exc.type_name}: {exc}\n")
        sys.stderr.flush()
        os.abort()
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
