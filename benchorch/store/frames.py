"""How stored values become pandas columns (pandas and numpy imported lazily).

Representation of the columns that need one:

* ``samples_us``: a list of floats per launch (stored as little-endian float64),
  or read-only float64 arrays for the history query (``launch_query.lean_frame``).
* ``health_before``/``health_after``: a dict, or ``None``; ``argv`` and
  ``variant_steps``: lists; ``params``, ``config``: dicts.
* ``core_mask``, ``exit_code``, ``load_s`` and the other optional numbers: pandas
  nullable ``Int64`` for integers (``<NA>`` when unset), ``float64`` with NaN for
  reals. ``timed_out``, ``hot``: bool. ``check_passed``: True/False/None.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_INT_COLUMNS = ("launch_id", "threads", "core_mask", "launch_index", "iters", "warmup", "exit_code")
_INT_COLUMNS_JOINED = ("variant_size_bytes",)
_FLOAT_COLUMNS = (
    "us_per_iter",
    "iters_per_sec",
    "load_s",
    "wall_s",
    "started_at",
    "finished_at",
    "check_max_abs_err",
    "check_cosine",
)


def sample_arrays(blobs: Sequence[bytes]) -> list[np.ndarray]:
    """Each BLOB as a read-only float64 array: one ``frombuffer`` over all of
    them joined, then a view per launch (no per-launch decoding)."""
    import numpy as np

    lens = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)) // 8
    flat = np.frombuffer(b"".join(blobs), dtype="<f8").astype(np.float64, copy=False)
    ends = np.cumsum(lens)
    return [flat[a:b] for a, b in zip((ends - lens).tolist(), ends.tolist(), strict=True)]


def sample_lists(blobs: Sequence[bytes]) -> list[list[float]]:
    """Each BLOB as a list of floats (one ``tolist`` over all, then slices)."""
    import numpy as np

    lens = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)) // 8
    flat = np.frombuffer(b"".join(blobs), dtype="<f8").tolist()
    ends = np.cumsum(lens)
    return [flat[a:b] for a, b in zip((ends - lens).tolist(), ends.tolist(), strict=True)]


def _json_column(values: Sequence[str | None], *, shared: bool) -> list[Any]:
    """JSON texts decoded; ``shared``: decode each distinct text once and hand
    out copies of the (flat) list (for low-cardinality columns like steps)."""
    if not shared:
        return [json.loads(x) if x else None for x in values]
    cache: dict[str, Any] = {}
    out: list[Any] = []
    for x in values:
        if not x:
            out.append(None)
            continue
        v = cache.get(x)
        if v is None:
            v = cache[x] = json.loads(x)
        out.append(list(v) if isinstance(v, list) else json.loads(x))
    return out


def _int_column(values: Sequence[Any]) -> Any:
    import numpy as np
    import pandas as pd

    if None not in values:
        return pd.array(np.fromiter(values, dtype=np.int64, count=len(values)), dtype="Int64")
    return pd.array(list(values), dtype="Int64")


def frame(
    cols: Sequence[str], rows: Sequence[Sequence[Any]], converters: dict[str, Callable[..., Any]]
) -> pd.DataFrame:
    """A DataFrame built column by column from row tuples: each column's values
    go through its converter (whole column at once), others become ``str``
    (text; None is missing) via pandas' own inference."""
    import pandas as pd

    columns = list(zip(*rows, strict=True)) if rows else [() for _ in cols]
    data: dict[str, Any] = {}
    for name, values in zip(cols, columns, strict=True):
        convert = converters.get(name)
        if convert is not None:
            data[name] = convert(values)
        elif rows and all(v is None for v in values):
            data[name] = pd.Series(values, dtype=object)
        else:
            data[name] = pd.Series(values, dtype="str" if rows else object)
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))


def _float_column(values: Sequence[Any]) -> Any:
    import numpy as np

    return np.array(values, dtype=np.float64)


def _bool_column(values: Sequence[Any]) -> Any:
    import numpy as np

    return np.array(values, dtype=bool)


def _object_column(values: Sequence[Any]) -> Any:
    import pandas as pd

    return pd.Series(list(values), dtype=object)


def _passed_column(values: Sequence[Any]) -> Any:
    import pandas as pd

    return pd.Series([None if x is None else bool(x) for x in values], dtype=object)


def converters(samples: Callable[[Sequence[bytes]], list[Any]]) -> dict[str, Callable[..., Any]]:
    conv: dict[str, Callable[..., Any]] = {
        "samples_us": samples,
        "health_before": lambda v: _object_column(_json_column(v, shared=False)),
        "health_after": lambda v: _object_column(_json_column(v, shared=False)),
        "argv": lambda v: _object_column(_json_column(v, shared=False)),
        "variant_steps": lambda v: _object_column(_json_column(v, shared=True)),
        "check_passed": _passed_column,
        "timed_out": _bool_column,
        "hot": _bool_column,
    }
    conv.update(dict.fromkeys(_INT_COLUMNS + _INT_COLUMNS_JOINED, _int_column))
    conv.update(dict.fromkeys(_FLOAT_COLUMNS, _float_column))
    return conv


def object_samples(values: Sequence[bytes]) -> Any:
    import pandas as pd

    return pd.Series(sample_lists(values), dtype=object)


def array_samples(values: Sequence[bytes]) -> Any:
    import pandas as pd

    return pd.Series(sample_arrays(values), dtype=object)
