"""Invitation pages: ``/invites`` for the people who may invite, ``/join/<token>`` for the
invited (no login)."""
