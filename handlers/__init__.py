"""Tornado request handlers: parse, call the core, render."""
