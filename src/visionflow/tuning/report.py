"""The tune folder's report.html: leaderboard, optimisation history, parameter importances."""

from __future__ import annotations

from pathlib import Path

from visionflow.report.html import Page, plot, table, tiles
from visionflow.rundir import write_text
from visionflow.tuning.space import Param


def history_plot(rows: list[dict], path: Path, metric: str, maximize: bool) -> None:
    """Each finished trial's value by trial number, with the best so far as a line."""
    from visionflow.plots import plt, save

    ordered = sorted(rows, key=lambda r: r["trial"])
    fig, ax = plt.subplots(figsize=(8, 3.8))
    best, xs, ys = None, [], []
    for state, colour in (("complete", "tab:blue"), ("pruned", "tab:grey")):
        pts = [(r["trial"], r["value"] if state == "complete" else r["last_epoch_value"])
               for r in ordered if r["state"] == state]
        pts = [p for p in pts if p[1] is not None]
        if pts:
            ax.scatter(*zip(*pts), color=colour, label=state, zorder=3)
    for r in ordered:
        if r["state"] == "complete":
            v = r["value"]
            best = v if best is None or (v > best if maximize else v < best) else best
            xs.append(r["trial"])
            ys.append(best)
    if xs:
        ax.step(xs, ys, where="post", color="tab:orange", label="best so far")
    ax.set(title="Optimisation history", xlabel="trial", ylabel=metric)
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, path)


def importance_plot(importances: dict[str, float], path: Path) -> None:
    from visionflow.plots import plt, save

    names = list(importances)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(names) + 1.2))
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    ax.set(title="Parameter importance (Optuna)", xlabel="share of the variation in the objective")
    ax.grid(alpha=0.3, axis="x")
    save(fig, path)


def tune_report(root: Path, summary: dict, rows: list[dict], params: list[Param]) -> Path:
    metric = summary["metric"]
    maximize = metric == "validation accuracy"
    plots = root / "plots"
    history_plot(rows, plots / "history.png", metric, maximize)
    page = Page(f"Tuning: {root.name}", f"{summary['trials']} trials, {metric}")
    page.add("summary", "Summary", tiles([
        (f"best {metric}", summary.get("best_value")), ("baseline (the base config)", summary.get("baseline")),
        ("complete trials", summary["complete"]), ("pruned", summary["pruned"]), ("failed", summary["failed"]),
    ]) + (f'<p class="note">Best: trial {summary["best_trial"]}; its settings are in best.yaml '
          f"(<code>visionflow train --config best.yaml</code>).</p>" if "best_trial" in summary else ""))
    names = [p.name for p in params]
    body = table(("rank", "trial", "state", "value", "epochs", "seconds", *names),
                 [(r["rank"], r["trial"], r["state"] + (" (baseline)" if r["baseline"] else ""),
                   r["value"] if r["value"] is not None else r["last_epoch_value"], r["epochs"], r["seconds"],
                   *(r.get(n) for n in names)) for r in rows],
                 numeric=[True, True, False, True, True, True] + [False] * len(names))
    page.add("leaderboard", "Leaderboard", body + '<p class="note">Pruned trials show their last reported '
             "epoch's value.</p>")
    page.add("history", "Optimisation history", plot(plots / "history.png", "optimisation history"))
    if summary.get("importances"):
        importance_plot(summary["importances"], plots / "importances.png")
        page.add("importances", "Parameter importances",
                 plot(plots / "importances.png", "parameter importances")
                 + table(("setting", "importance"), list(summary["importances"].items()), numeric=[False, True]))
    out = root / "report.html"
    write_text(out, page.render())
    return out
