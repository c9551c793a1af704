"""Ranking inside the API process: item index, recommendations, lists ranked in advance,
the short-term scorer, similar items and search. numpy only: neither Flask nor torch."""
