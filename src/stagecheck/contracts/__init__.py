"""The ground floor: the two contract documents and the sans-I/O code that applies them.

Nothing here does I/O on the network, reads a clock or imports asyncio, locust or pytest:
callers stamp events with their own clock and feed them in (docs/protocol.md rule ids are used
throughout).
"""
