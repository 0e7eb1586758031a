"""Mutations: parse input, run one use case in one transaction, enqueue after commit."""
