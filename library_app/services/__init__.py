"""Use cases. Each takes (session, actor, now, ...), calls domain rules, flushes, never commits."""
