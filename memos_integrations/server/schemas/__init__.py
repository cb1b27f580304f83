"""Request/response schemas of the three API families (one module each)."""
