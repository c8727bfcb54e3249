//! builder (in progress)
