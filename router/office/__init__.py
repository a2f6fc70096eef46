"""What the office keeps: callers' messages, emergency overrides, the call log, retention, the report."""
