"""Alerts that reach people: the outbox written with the derivation, sinks, and the dispatcher."""
