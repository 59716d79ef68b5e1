//! Unit tests of every hub transition and error code (see `tests/` for more).
