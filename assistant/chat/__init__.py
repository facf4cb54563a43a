"""Conversations: the SQLite store with its migrations, and answering within a conversation.

Imports the engine interface, never a concrete engine, and never Qt.
"""
