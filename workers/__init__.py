"""Everything the queue runs, and the domain logic it needs (no Flask, no ping_server)."""
