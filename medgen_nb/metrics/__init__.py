"""Metrics: creation (review Table 1), translation (Table 5) and downstream tasks."""
