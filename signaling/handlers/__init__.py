"""Message handlers, one module per feature; signaling/dispatch.py maps messages to them."""
