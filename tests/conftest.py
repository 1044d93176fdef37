"""Shared fixtures: the small tables the chapters' table-drawing figures take."""

import pandas as pd
import pytest


@pytest.fixture
def figure_tables() -> dict[str, pd.DataFrame]:
    """A baselines table (chapter 1), a per-family table and a graph-mismatch table (chapter 2)."""
    index = ["chain", "icl"]
    return {
        "baselines": pd.DataFrame({"loss": [2.3, 1.77], "se": [0.0, 0.01]}, index=["uniform", "estimator"]),
        "families": pd.DataFrame(
            {
                "roots": [1, 10],
                "uniform": [2.3, 2.3],
                "unigram": [2.7, 2.6],
                "unigram_se": [0.02, 0.02],
                "estimator": [1.77, 1.93],
                "estimator_se": [0.01, 0.01],
                "bayes": [1.77, 1.91],
                "bayes_se": [0.01, 0.01],
                "gap": [0.0, 0.02],
                "gap_se": [0.003, 0.009],
            },
            index=index,
        ),
        "mismatch": pd.DataFrame(
            {"true graph": [1.77, 1.93], "chain graph": [1.77, 2.05], "uniform": [2.3, 2.3], "unigram": [2.7, 2.6]},
            index=index,
        ),
    }
