"""Test-only support code: local stand-ins for the services the hub calls, and their pytest fixtures."""
