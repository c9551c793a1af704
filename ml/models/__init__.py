"""Embedding models over the user-item graph."""

from ml.models.graph import GraphOperators
from ml.models.inductive import InductiveGCN
from ml.models.interest_graph import InterestGraphGNN
from ml.models.lightgcn import WeightedLightGCN
from ml.models.sequence import SequenceRecommender

__all__ = [
    "GraphOperators",
    "InductiveGCN",
    "InterestGraphGNN",
    "SequenceRecommender",
    "WeightedLightGCN",
]
