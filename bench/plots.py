# SPDX-License-Identifier: LGPL-2.1-or-later
"""Line charts for the migration, scaling and convergence benchmarks
(gnuplot PNG); benchlib.gnuplot_bars() draws the bar charts."""

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


def write_throughput(png, title, xlabel, ylabel, xlabels, series):
    """The guest's write throughput during a migration against before it,
    one line per configuration, with a dashed line at 100% (not slowed).
    SERIES maps a name to [(x label, y or None, converged)] in XLABELS
    order: a filled point where that run converged, an open one where it
    did not (the throughput of a migration that never ended). Returns the
    PNG path, or None when gnuplot is missing or nothing has a value."""
    if tool_version(["gnuplot", "--version"]) == "not found":
        return None
    if not any(y is not None for pts in series.values() for _, y, _ in pts):
        return None
    dat = png[:-4] + ".dat"
    names = list(series)
    with open(dat, "w") as f:
        f.write("# x label, per series: y, y if converged, y if not\n")
        for i, lab in enumerate(xlabels):
            cols = [str(i), f'"{lab}"']
            for n in names:
                pt = next((p for p in series[n] if p[0] == lab), (lab, None, False))
                y = "-" if pt[1] is None else f"{pt[1]:.1f}"
                cols += [y, y if pt[2] else "-", "-" if pt[2] else y]
            f.write(" ".join(cols) + "\n")
    plots = []
    for k, n in enumerate(names):
        col, c = 3 + 3 * k, PALETTE[k % len(PALETTE)]
        plots.append(f"'{dat}' using 1:{col}:xtic(2) with lines lw 2 lc rgb '{c}' title '{n}'")
        # gnuplot warns about a column with no point: leave such out.
        for off, pt, want in ((1, 7, True), (2, 6, False)):
            if any(p[1] is not None and p[2] == want for p in series[n]):
                plots.append(f"'{dat}' using 1:{col + off} with points pt {pt} ps 1.5 "
                             f"lc rgb '{c}' notitle")
    plots.append("100 with lines dt 2 lc rgb 'black' title 'as before'")
    script = "\n".join([
        "set terminal pngcairo size 1000,540 noenhanced font 'sans,10'",
        f"set output '{png}'",
        f'set title "{title}\\n(filled point: the migration converged; open: it did not)"',
        f"set xlabel '{xlabel}'",
        f"set ylabel '{ylabel}'",
        f"set xrange [-0.3:{len(xlabels) - 0.7}]",
        "set yrange [0:110<*]",  # the 100% line stays inside
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
