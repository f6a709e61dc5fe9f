# SPDX-License-Identifier: LGPL-2.1-or-later
"""Line charts for the migration and scaling benchmarks (gnuplot PNG);
benchlib.gnuplot_bars() draws the bar charts."""

import subprocess

from benchlib import PALETTE, tool_version


def lines_categorical(png, title, xlabel, ylabel, xlabels, series, logy=False):
    """One line per series over categorical x positions XLABELS. SERIES
    maps a name to [(x label, y or None)], in XLABELS order; a None is a
    gap (for example a run that did not converge). Returns the PNG path,
    or None when gnuplot is missing or nothing has a value."""
    if tool_version(["gnuplot", "--version"]) == "not found":
        return None
    if not any(y is not None for pts in series.values() for _, y in pts):
        return None
    dat = png[:-4] + ".dat"
    names = list(series)
    with open(dat, "w") as f:
        f.write("# x label " + " ".join(f'"{n}"' for n in names) + "\n")
        for i, lab in enumerate(xlabels):
            cols = [str(i), f'"{lab}"']
            for n in names:
                y = dict(series[n]).get(lab if lab in dict(series[n]) else _num(lab))
                cols.append("-" if y is None else f"{y:.3f}")
            f.write(" ".join(cols) + "\n")
    plots = []
    for k, n in enumerate(names):
        dash = " dt 2" if "(events)" in n else ""
        plots.append(f"'{dat}' using 1:{3 + k}:xtic(2) with linespoints lw 2 pt 7{dash} "
                     f"lc rgb '{PALETTE[(k // 2 if _paired(names) else k) % len(PALETTE)]}' "
                     f"title '{n}'")
    script = "\n".join([
        "set terminal pngcairo size 1000,540 noenhanced font 'sans,10'",
        f"set output '{png}'",
        f"set title '{title}'",
        f"set xlabel '{xlabel}'",
        f"set ylabel '{ylabel}'",
        f"set xrange [-0.3:{len(xlabels) - 0.7}]",
        "set logscale y" if logy else "set yrange [0:*]",
        "set grid",
        "set key outside right top vertical",
        "set datafile missing '-'",
        "plot " + ", ".join(plots),
    ])
    gp = png[:-4] + ".gp"
    with open(gp, "w") as f:
        f.write(script + "\n")
    subprocess.run(["gnuplot", gp], check=True, timeout=60)
    return png


def _num(lab):
    try:
        return int(lab)
    except ValueError:
        return lab


def _paired(names):
    """Series come in pairs "X" and "X (events)": same colour per pair."""
    return len(names) % 2 == 0 and all(names[i + 1] == names[i] + " (events)"
                                       for i in range(0, len(names), 2))
