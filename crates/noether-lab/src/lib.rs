//! Placeholder: the experiment framework arrives with issue 4. Nothing here pretends to work.
