"""Pure rules of the library: no Flask, no SQLAlchemy. Test them with plain values."""
