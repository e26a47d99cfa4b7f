"""The requests table: one row per HELM request state, with token counts and media."""
