//! The Linux layer of guard (filled in by the OS issue).
