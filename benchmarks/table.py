"""One table for every benchmark: figure, baseline from the same run, ratio."""

from __future__ import annotations


def print_table(rows: list[dict]) -> None:
    header = ("benchmark", "figure", "baseline", "ratio", "goal")
    lines = []
    for row in rows:
        unit = row.get("unit", "")
        baseline = row.get("baseline")
        ratio = row.get("ratio")
        if ratio is None and baseline:
            ratio = row["figure"] / baseline
        base_text = f"{baseline:.3g} {unit} ({row.get('baseline_name', 'baseline')})" if baseline is not None else "-"
        lines.append((row["name"], f"{row['figure']:.3g} {unit}", base_text,
                      f"{ratio:.2f}x" if ratio is not None else "-", row.get("goal", "")))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=False)]
    for line in (header, *lines):
        print("  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=False)).rstrip())
