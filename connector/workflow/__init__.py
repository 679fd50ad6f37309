"""The reminder workflow's pure core: policies, Dutch legal rules, the business calendar and the planner.

Nothing in this package does I/O: it takes dates, amounts and mirror rows, and returns decisions.
"""
