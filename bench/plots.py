"""Plots for studies and evaluations (matplotlib: a developer dependency only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_distances(same: np.ndarray, different: np.ndarray, threshold: float, path: Path) -> None:
    """Histograms of same- and different-person distances with the threshold, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    bins = np.linspace(0.0, 2.0, 81).tolist()
    ax.hist(different, bins=bins, alpha=0.6, color="tab:red", label=f"different ({len(different)})")
    ax.hist(same, bins=bins, alpha=0.7, color="tab:green", label=f"same person ({len(same)})")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.2f}")
    ax.set_xlabel("distance between embeddings (Euclidean on unit vectors)")
    ax.set_ylabel("pairs")
    ax.set_title("Same- and different-person distances")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
