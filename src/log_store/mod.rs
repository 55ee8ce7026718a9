//! Bounded log store: a ring of entries with a per-process index, one ingestion path.
