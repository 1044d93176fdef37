"""Check functions for the book's exercises: each tells a student whether an answer is right.

One module per chapter; each check returns ``True`` or raises ``AssertionError`` with a hint.
"""
