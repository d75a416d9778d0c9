"""Chart geometry: scales, ticks, sparklines, strips, history."""

from __future__ import annotations

from benchorch.report import charts


def test_chart_geometry() -> None:
    assert charts.nice_ticks(0.0, 10.0, 5) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert charts.log_ticks(90.0, 1100.0) == [100.0, 200.0, 500.0, 1000.0]
    assert charts.sparkline([1.0]) is None
    sp = charts.sparkline([1.0, 3.0, 2.0], width=100, height=20)
    assert sp is not None and sp.points.startswith("2.0,18.0") and sp.last_x == 98.0
    h = charts.history(
        [1.0, 1.0, 2.0, 2.0],
        ["a", "b", "c", "d"],
        [2],
        [False, False, True, False],
        width=100,
        left=10,
    )
    assert h is not None and len(h.change_xs) == 1
    assert h.points[1].x < h.change_xs[0] < h.points[2].x
    assert (
        len(h.levels) == 2 and h.levels[0][2] > h.levels[1][2]
    )  # higher value = higher up (smaller y)
    st = charts.strip([("a", [100.0, 200.0]), ("b", [1000.0])])
    assert st is not None and st.rows[0].dots[0][0] < st.rows[0].dots[1][0] < st.rows[1].dots[0][0]
