"""Server-Sent Events: the stream routes served on the event loop, the per-process hub, who may
listen to what (scopes), stream limits, the Redis feed between processes, and Pushpin (GRIP)."""
